"""Run one round of function calls under the process's limits, timeouts, retries and breakers.

:class:`ToolRunner` is the tools actor's handle (``tools/actor.py`` owns it for the life of the
process, so breakers and the global limit are shared by every request). A round runs in the
*caller's* task tree, not the actor's: cancelling a turn cancels its tools, and a tool never
outlives the request that asked for it.

One round (``run_batch``):

1. calls beyond ``queue_size`` are refused (the model is told why);
2. the rest are planned into stages and batches (:mod:`pipe_service.tools.batching`);
3. per stage, batches go through a bounded FIFO to ``max_concurrent_per_request`` workers; a
   batch's calls run concurrently, each holding a per-request and a global slot;
4. each attempt is bounded by ``per_call_timeout_s``, each batch by ``batch_timeout_s``, and the
   round by ``idle_timeout_s`` without any call finishing;
5. breakers (per user, per user and tool) skip calls of tools that keep failing.

Every call gets an outcome, in round order; only :class:`ToolExecutorGoneError` escapes.

Synopsis::

    runner = ToolRunner(ToolSettings())
    outcomes = await runner.run_batch("req-1", invocations, executor, user_id="u1")
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import trio

from pipe_service.chat.events import Status
from pipe_service.tools.batching import Batch, PlannedCall, Stage, plan_stages
from pipe_service.tools.breaker import BreakerBoard
from pipe_service.tools.contract import (
    ToolExecutor,
    ToolExecutorGoneError,
    ToolInvocation,
    ToolOutcome,
    ToolTransientError,
)
from pipe_service.tools.settings import ToolSettings
from pipe_service.tools.statistics import ToolCounters, ToolStatistics

logger = logging.getLogger("pipe_service.tools")

StatusSink = Callable[[Status], Awaitable[None]]
_MAX_ERROR_CHARS = 500


@dataclass(slots=True)
class _Round:
    """Shared state of one running round."""

    results: dict[int, ToolOutcome] = field(default_factory=dict)
    last_progress: float = 0.0
    idle_fired: bool = False
    gone: ToolExecutorGoneError | None = None
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)


@dataclass(frozen=True, slots=True)
class _CallContext:
    executor: ToolExecutor
    user_id: str | None
    per_request: trio.CapacityLimiter
    state: _Round
    on_status: StatusSink | None


class ToolRunner:
    """Runs rounds of tool calls; one instance per process (the tools actor's handle)."""

    def __init__(self, settings: ToolSettings) -> None:
        self.settings = settings
        self._global = trio.CapacityLimiter(settings.max_concurrent_global)
        self.breakers = BreakerBoard(
            tool_failures=settings.breaker_failures,
            user_failures=settings.user_breaker_failures,
            window_s=settings.breaker_window_s,
        )
        self._counters = ToolCounters()
        self._active_requests: dict[str, int] = {}

    def update_settings(self, settings: ToolSettings) -> None:
        """Apply new limits at run time (``pipe-service set``/reload): calls already running
        keep their slots; new rounds and new breakers see the new values."""
        self.settings = settings
        self._global.total_tokens = settings.max_concurrent_global
        self.breakers.set_thresholds(
            tool_failures=settings.breaker_failures,
            user_failures=settings.user_breaker_failures,
            window_s=settings.breaker_window_s,
        )

    def statistics(self) -> ToolStatistics:
        """Counters, breaker states and what runs now (for /status and /metrics)."""
        counts = self.breakers.counts(trio.current_time())
        return self._counters.snapshot(
            breakers_open=counts.open,
            breakers_half_open=counts.half_open,
            breaker_trips=self.breakers.trips,
            requests_active=len(self._active_requests),
            global_in_use=int(self._global.borrowed_tokens),
        )

    async def run_batch(
        self,
        request_key: str,
        invocations: Sequence[ToolInvocation],
        executor: ToolExecutor,
        *,
        user_id: str | None,
        on_status: StatusSink | None = None,
    ) -> list[ToolOutcome]:
        """Run one round; return one outcome per invocation, in order.

        Raises :class:`ToolExecutorGoneError` when the executor can no longer run tools (the shim
        left); calls still running are cancelled first.
        """
        self._active_requests[request_key] = self._active_requests.get(request_key, 0) + 1
        try:
            return await self._run_round(invocations, executor, user_id, on_status)
        finally:
            remaining = self._active_requests.pop(request_key) - 1
            if remaining:
                self._active_requests[request_key] = remaining

    async def _run_round(
        self,
        invocations: Sequence[ToolInvocation],
        executor: ToolExecutor,
        user_id: str | None,
        on_status: StatusSink | None,
    ) -> list[ToolOutcome]:
        settings = self.settings
        self._counters.rounds += 1
        self._counters.calls += len(invocations)
        state = _Round(last_progress=trio.current_time())
        for position, invocation in enumerate(invocations[settings.queue_size :]):
            self._counters.refused += 1
            state.results[settings.queue_size + position] = _error(
                invocation,
                f"not run: the response asked for more than {settings.queue_size} tool calls "
                "at once; ask for fewer",
            )
        accepted = invocations[: settings.queue_size]
        context = _CallContext(
            executor=executor,
            user_id=user_id,
            per_request=trio.CapacityLimiter(settings.max_concurrent_per_request),
            state=state,
            on_status=on_status,
        )
        with state.scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._watch_idle, state)
                for stage in plan_stages(accepted, cap=settings.batch_cap):
                    await self._run_stage(stage, context)
                nursery.cancel_scope.cancel()
        if state.gone is not None:
            raise state.gone
        for position, invocation in enumerate(accepted):
            if position not in state.results:
                self._counters.timeouts += 1
                self._counters.failed += 1
                state.results[position] = _error(
                    invocation,
                    f"tool {invocation.name} timed out: no tool call finished within "
                    f"{settings.idle_timeout_s:g} s",
                )
        return [state.results[position] for position in range(len(invocations))]

    async def _watch_idle(self, state: _Round) -> None:
        """Cancel the round when no call finished for ``idle_timeout_s``."""
        while True:
            deadline = state.last_progress + self.settings.idle_timeout_s
            await trio.sleep_until(deadline)
            if trio.current_time() >= state.last_progress + self.settings.idle_timeout_s:
                state.idle_fired = True
                state.scope.cancel()
                return

    async def _run_stage(self, stage: Stage, context: _CallContext) -> None:
        # The FIFO: batches leave in round order to the first free worker. It is sized to hold
        # a whole round (queue_size calls at most), so putting a round in never blocks.
        send, receive = trio.open_memory_channel[Batch](self.settings.queue_size)
        workers = min(self.settings.max_concurrent_per_request, len(stage.batches))
        async with trio.open_nursery() as nursery:
            async with receive:
                for _ in range(workers):
                    nursery.start_soon(self._worker, receive.clone(), context)
            async with send:
                for batch in stage.batches:
                    send.send_nowait(batch)

    async def _worker(
        self, receive: trio.MemoryReceiveChannel[Batch], context: _CallContext
    ) -> None:
        async with receive:
            async for batch in receive:
                await self._run_batch_unit(batch, context)

    async def _run_batch_unit(self, batch: Batch, context: _CallContext) -> None:
        self._counters.batches += 1
        with trio.move_on_after(self.settings.batch_timeout_s) as scope:
            async with trio.open_nursery() as nursery:
                for call in batch.calls:
                    # start() returns once the call holds its slots: calls take slots in order.
                    await nursery.start(self._run_call, call, context)
        if scope.cancelled_caught:
            for call in batch.calls:
                if call.position not in context.state.results:
                    self._counters.timeouts += 1
                    self._counters.failed += 1
                    context.state.results[call.position] = _error(
                        call.invocation,
                        f"tool {call.invocation.name} timed out: its batch took longer than "
                        f"{self.settings.batch_timeout_s:g} s",
                    )

    async def _run_call(
        self,
        call: PlannedCall,
        context: _CallContext,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        invocation = call.invocation
        breakers = self.breakers
        ticket = breakers.acquire(context.user_id, invocation.name, trio.current_time())
        if ticket is None:
            task_status.started()
            await self._skip(call, context)
            return
        verdict: bool | None = None
        try:
            async with context.per_request, self._global:
                task_status.started()
                self._counters.in_flight += 1
                try:
                    outcome, verdict = await self._attempts(invocation, context.executor)
                finally:
                    self._counters.in_flight -= 1
        except ToolExecutorGoneError as gone:
            context.state.gone = gone
            context.state.scope.cancel()
            return
        finally:
            if verdict is None:
                breakers.release(ticket)
            else:
                breakers.settle(ticket, ok=verdict, now=trio.current_time())
        if outcome.ok:
            self._counters.succeeded += 1
        else:
            self._counters.failed += 1
        context.state.results[call.position] = outcome
        context.state.last_progress = trio.current_time()

    async def _attempts(
        self, invocation: ToolInvocation, executor: ToolExecutor
    ) -> tuple[ToolOutcome, bool]:
        """Run the call with retries; return the outcome and the breaker verdict (ok?)."""
        settings = self.settings
        reason = ""
        for attempt in range(settings.retries + 1):
            if attempt:
                self._counters.retries += 1
                await trio.sleep(settings.retry_backoff_s * 2 ** (attempt - 1))
            with trio.move_on_after(settings.per_call_timeout_s):
                try:
                    outcome = await executor.execute(invocation)
                except ToolTransientError as exc:
                    reason = _describe(exc)
                    continue
                except (
                    ToolExecutorGoneError,
                    trio.BrokenResourceError,
                    trio.ClosedResourceError,
                ) as exc:
                    if isinstance(exc, ToolExecutorGoneError):
                        raise
                    raise ToolExecutorGoneError(_describe(exc)) from exc
                except Exception as exc:
                    # The tool raised: its error is the model's to see, not the turn's end.
                    logger.warning("tool %s raised %s", invocation.name, type(exc).__name__)
                    return _error(
                        invocation, f"tool {invocation.name} failed: {_describe(exc)}"
                    ), False
                if outcome.error is not None and outcome.retryable:
                    reason = outcome.error
                    continue
                return _for_call(outcome, invocation), outcome.ok
            self._counters.timeouts += 1
            message = f"tool {invocation.name} timed out after {settings.per_call_timeout_s:g} s"
            return _error(invocation, message), False
        attempts = settings.retries + 1
        message = f"tool {invocation.name} failed after {attempts} attempts: {reason}"
        return _error(invocation, message[:_MAX_ERROR_CHARS]), False

    async def _skip(self, call: PlannedCall, context: _CallContext) -> None:
        invocation = call.invocation
        self._counters.skipped += 1
        if self.breakers.user_blocked(context.user_id, trio.current_time()):
            message = "tools temporarily disabled for this user after repeated failures"
        else:
            message = f"tool {invocation.name} temporarily disabled after repeated failures"
        context.state.results[call.position] = _error(invocation, message)
        context.state.last_progress = trio.current_time()
        if context.on_status is not None:
            await context.on_status(Status(message[:1].upper() + message[1:], done=True))


def _error(invocation: ToolInvocation, message: str) -> ToolOutcome:
    return ToolOutcome(call_id=invocation.call_id, error=message)


def _for_call(outcome: ToolOutcome, invocation: ToolInvocation) -> ToolOutcome:
    if outcome.call_id == invocation.call_id and not outcome.retryable:
        return outcome
    return ToolOutcome(call_id=invocation.call_id, output=outcome.output, error=outcome.error)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    described = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return described[:_MAX_ERROR_CHARS]
