"""The supervisor: starts actors in order, restarts crashed ones, and stops them gracefully.

Two nested nurseries give the shutdown order (STYLE rule 3): the outer one holds *sinks* (log, DB,
Redis, cleanup), the inner one holds *producers* (signal watcher, admission, tools, the HTTP
front). Trio's one-for-all stays the outer policy; each actor runs inside a small one-for-one
wrapper (rule 9) that restarts it with exponential backoff up to its :class:`RestartPolicy`.

Stopping, once :meth:`Supervisor.request_shutdown` was called (or the ``open_supervisor`` body
left, or an actor escalated), all under one deadline ``grace_s`` after the request:

1. Producers stop one at a time, in reverse start order (the front first). A producer is
   cancelled unless its spec says ``stops_on_shutdown=True`` (it watches
   :meth:`Supervisor.wait_shutdown_requested` itself, as hypercorn's ``shutdown_trigger`` does);
   then the supervisor waits for it to return.
2. Then every sink inbox's original send end is closed; sinks drain what is queued and return on
   their own (rule 7: sinks are not cancelled). A sink without an inbox is cancelled unless it
   ``stops_on_shutdown``.
3. Whatever is still running at the deadline is cancelled.

Escalation (a crash past the restart intensity, a crash of an actor without a restart policy, or
an actor returning while the service is not shutting down) runs the same graceful stop; then
``open_supervisor`` raises an :class:`ExceptionGroup` holding :class:`RestartIntensityExceeded`
(its ``__cause__`` is the last crash) or the original error.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio

from actors.inbox import Inbox
from actors.restart_policy import RestartIntensityExceeded, RestartPolicy, RestartWindow
from actors.statistics import ActorLayer, ActorState, ActorStatistics

__all__ = [
    "ActorSpec",
    "RestartIntensityExceeded",
    "RestartPolicy",
    "ShutdownInProgress",
    "Supervisor",
    "open_supervisor",
]

LOGGER = logging.getLogger("pipe_service.actors")

# Long enough for a useful message, short enough that a payload echoed in one stays out of /status.
MAX_ERROR_TEXT = 300


@dataclass(frozen=True)
class ActorSpec:
    """How to run one actor.

    ``run`` is called as ``run(*args, task_status=...)``; when ``inbox`` is given, the first
    positional argument is a fresh ``inbox.receiver()`` for each run. ``restart=None`` means a
    crash escalates at once. ``stops_on_shutdown=True`` says the actor returns by itself once
    shutdown is requested, so the supervisor waits for it (until the grace deadline) instead of
    cancelling it.
    """

    name: str
    run: Callable[..., Awaitable[object]]
    args: tuple[object, ...] = ()
    inbox: Inbox[Any] | None = None
    layer: ActorLayer = "producer"
    restart: RestartPolicy | None = None
    stops_on_shutdown: bool = False

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("ActorSpec.name must not be empty")
        if self.layer not in ("sink", "producer"):
            raise ValueError(f"ActorSpec.layer must be 'sink' or 'producer', got {self.layer!r}")


class ShutdownInProgress(Exception):  # noqa: N818 - reads like trio.WouldBlock
    """:meth:`Supervisor.start` was called after shutdown was requested.

    ``open_supervisor`` drops it from its body's errors: a SIGTERM during start-up is a clean stop.
    """


class _Actor:
    """The supervisor's mutable record of one actor."""

    def __init__(self, spec: ActorSpec) -> None:
        self.spec = spec
        self.state: ActorState = "starting"
        self.restarts = 0
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.started_at: float | None = None
        self.window = None if spec.restart is None else RestartWindow(spec.restart)
        self.cancel_scope = trio.CancelScope()
        self.done = trio.Event()

    def statistics(self) -> ActorStatistics:
        return ActorStatistics(
            name=self.spec.name,
            state=self.state,
            layer=self.spec.layer,
            restartable=self.spec.restart is not None,
            restarts=self.restarts,
            last_error=self.last_error,
            last_error_at=self.last_error_at,
            started_at=self.started_at,
            inbox=None if self.spec.inbox is None else self.spec.inbox.statistics(),
        )


class Supervisor:
    """Starts, restarts and stops actors; made by :func:`open_supervisor`, not directly."""

    def __init__(self, *, grace_s: float) -> None:
        if not (0 <= grace_s < math.inf):
            raise ValueError(f"grace_s must be >= 0 and finite, got {grace_s}")
        self._grace_s = grace_s
        self._created_at = trio.current_time()
        self._actors: list[_Actor] = []
        self._shutdown_requested = trio.Event()
        self._shutdown_reason: str | None = None
        self._stop_deadline: float | None = None
        self._failures: list[Exception] = []
        self._sink_nursery: trio.Nursery | None = None
        self._producer_nursery: trio.Nursery | None = None

    # -- public ----------------------------------------------------------------------------

    async def start(self, spec: ActorSpec) -> Any:
        """Start one actor and return what it passed to ``task_status.started()``.

        Sinks go to the outer nursery, producers to the inner one; call it in dependency order
        (sinks first, the HTTP front last). An error before ``started()`` is raised here and is
        not retried. Raises :class:`ShutdownInProgress` once shutdown was requested.
        """
        if self._shutdown_reason is not None:
            raise ShutdownInProgress(
                f"cannot start actor {spec.name!r}: shutting down ({self._shutdown_reason})"
            )
        if any(actor.spec.name == spec.name for actor in self._actors):
            raise ValueError(f"an actor named {spec.name!r} was already started")
        nursery = self._sink_nursery if spec.layer == "sink" else self._producer_nursery
        if nursery is None:
            raise RuntimeError("Supervisor.start() works only inside open_supervisor()")
        actor = _Actor(spec)
        self._actors.append(actor)
        return await nursery.start(self._supervise, actor, name=f"actor:{spec.name}")

    def request_shutdown(self, reason: str) -> None:
        """Begin the graceful stop; later calls do nothing. Synchronous, so any task (signal
        watcher, admin route, escalating actor, test) may call it."""
        if self._shutdown_reason is not None:
            return
        self._shutdown_reason = reason
        self._stop_deadline = trio.current_time() + self._grace_s
        LOGGER.info("shutdown requested (%s); grace %g s", reason, self._grace_s)
        if self._sink_nursery is not None:
            # The producers' nursery and the open_supervisor body sit inside this scope, so one
            # deadline bounds the whole stop.
            scope = self._sink_nursery.cancel_scope
            scope.deadline = min(scope.deadline, self._stop_deadline)
        self._shutdown_requested.set()

    async def wait_shutdown_requested(self) -> None:
        """Return once shutdown was requested (hypercorn's ``shutdown_trigger`` fits here)."""
        await self._shutdown_requested.wait()

    @property
    def shutdown_reason(self) -> str | None:
        return self._shutdown_reason

    @property
    def uptime_s(self) -> float:
        return trio.current_time() - self._created_at

    def statistics(self) -> list[ActorStatistics]:
        """One record per actor, in start order."""
        return [actor.statistics() for actor in self._actors]

    # -- one-for-one wrapper ---------------------------------------------------------------

    async def _supervise(
        self,
        actor: _Actor,
        *,
        task_status: trio.TaskStatus[object] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        try:
            with actor.cancel_scope:
                await self._run_with_restarts(actor, task_status)
        finally:
            actor.done.set()
            if actor.state not in ("stopped", "failed"):
                # Only cancellation (or KeyboardInterrupt) leaves the loop without a verdict.
                actor.state = "stopped"
                self._log_cancelled(actor)

    async def _run_with_restarts(self, actor: _Actor, task_status: trio.TaskStatus[object]) -> None:
        name = actor.spec.name
        while True:
            crash: Exception
            try:
                await self._run_once(actor, task_status if actor.started_at is None else None)
            except Exception as exc:  # rule 9: Exception only; Cancelled and KI propagate
                if actor.started_at is None:
                    # Rule 2: a start-up failure belongs to the start() caller, not a restart.
                    actor.state = "failed"
                    self._record_error(actor, exc)
                    LOGGER.debug("actor %s failed before started()", name, exc_info=exc)
                    raise
                crash = exc
            else:
                if self._shutdown_reason is not None:
                    actor.state = "stopped"
                    LOGGER.debug("actor %s stopped", name)
                    return
                crash = RuntimeError(f"actor {name!r} returned while the service was running")
            if not await self._recover(actor, crash):
                return

    async def _run_once(self, actor: _Actor, task_status: trio.TaskStatus[object] | None) -> None:
        spec = actor.spec
        # Rule 8: a fresh receive clone per run; the inbox keeps the original open, so a crash
        # closes only this clone and queued messages wait in the channel for the next run.
        receiver = None if spec.inbox is None else spec.inbox.receiver()
        args = spec.args if receiver is None else (receiver, *spec.args)
        crash: Exception | None = None
        try:
            async with trio.open_nursery() as run_nursery:
                value = await run_nursery.start(spec.run, *args, name=spec.name)
                actor.state = "running"
                actor.started_at = trio.current_time()
                if task_status is not None:
                    task_status.started(value)
        except BaseExceptionGroup as group:
            # This nursery has one child, so its group wraps exactly the actor's own error.
            # Unwrap it (as Nursery.start does) so logs, last_error and escalation see that
            # error; it is raised below, outside this handler, to keep its own __context__.
            if len(group.exceptions) != 1 or not isinstance(group.exceptions[0], Exception):
                raise
            crash = group.exceptions[0]
        finally:
            if receiver is not None:
                receiver.close()
        if crash is not None:
            raise crash

    async def _recover(self, actor: _Actor, crash: Exception) -> bool:
        """Log ``crash`` and either sleep the backoff (True: run again) or give up (False)."""
        name = actor.spec.name
        self._record_error(actor, crash)
        LOGGER.error("actor %s crashed: %s", name, _describe(crash), exc_info=crash)
        policy = actor.spec.restart
        if policy is None or actor.window is None:
            self._escalate(actor, crash)
            return False
        if self._shutdown_reason is not None and actor.spec.inbox is None:
            # Nothing queued to drain: a restart would only be stopped again.
            actor.state = "stopped"
            return False
        restart_number = actor.window.admit(trio.current_time())
        if restart_number is None:
            error = RestartIntensityExceeded(name, len(actor.window), policy.window_s)
            error.__cause__ = crash
            self._escalate(actor, error)
            return False
        actor.restarts += 1
        actor.state = "restarting"
        delay = policy.backoff_s(restart_number)
        LOGGER.warning("actor %s: restart %d in %g s", name, actor.restarts, delay)
        await trio.sleep(delay)
        return True

    def _record_error(self, actor: _Actor, error: BaseException) -> None:
        actor.last_error = _describe(error)
        actor.last_error_at = trio.current_time()

    def _escalate(self, actor: _Actor, error: Exception) -> None:
        actor.state = "failed"
        self._failures.append(error)
        LOGGER.error("actor %s failed for good: %s", actor.spec.name, _describe(error))
        self.request_shutdown(f"actor {actor.spec.name} failed: {_describe(error)}")

    def _log_cancelled(self, actor: _Actor) -> None:
        deadline = self._stop_deadline
        if deadline is not None and trio.current_time() >= deadline:
            depth = 0 if actor.spec.inbox is None else actor.spec.inbox.statistics().depth
            LOGGER.warning(
                "actor %s cancelled at the grace deadline (%d messages left in its inbox)",
                actor.spec.name,
                depth,
            )
        else:
            LOGGER.debug("actor %s cancelled", actor.spec.name)

    # -- graceful stop ---------------------------------------------------------------------

    def _attach(self, *, sink_nursery: trio.Nursery, producer_nursery: trio.Nursery) -> None:
        self._sink_nursery = sink_nursery
        self._producer_nursery = producer_nursery

    async def _stop_producers(self) -> None:
        producers = [actor for actor in self._actors if actor.spec.layer == "producer"]
        for actor in reversed(producers):
            if actor.spec.inbox is not None:
                actor.spec.inbox.close_senders()
            if not actor.spec.stops_on_shutdown:
                actor.cancel_scope.cancel()
            await actor.done.wait()

    def _stop_sinks(self) -> None:
        for actor in self._actors:
            if actor.spec.layer != "sink":
                continue
            if actor.spec.inbox is not None:
                actor.spec.inbox.close_senders()
            elif not actor.spec.stops_on_shutdown:
                actor.cancel_scope.cancel()

    def _errors_to_raise(self, body_error: Exception | None) -> list[Exception]:
        errors = list(self._failures)
        if isinstance(body_error, ExceptionGroup):
            _, body_error = body_error.split(ShutdownInProgress)
        if body_error is not None and not isinstance(body_error, ShutdownInProgress):
            errors.append(body_error)
        return errors


@asynccontextmanager
async def open_supervisor(*, grace_s: float) -> AsyncIterator[Supervisor]:
    """Run a supervisor for the body; stop every actor gracefully on the way out.

    Synopsis::

        async with open_supervisor(grace_s=10.0) as supervisor:
            await supervisor.start(ActorSpec("log_sink", log_sink.run, inbox=logs, layer="sink"))
            await supervisor.start(ActorSpec("signals", watch_signals, args=(supervisor,)))
            await supervisor.start(ActorSpec("front", serve_front, stops_on_shutdown=True))
            await supervisor.wait_shutdown_requested()

    Leaving the body requests shutdown, then runs the graceful stop described in the module
    docstring, all within ``grace_s`` of the request. Raises ``ExceptionGroup`` of every
    escalated error (:class:`RestartIntensityExceeded`, or the original error of an actor
    without a restart policy) plus the body's own error, if any; catch with
    ``except* RestartIntensityExceeded``. A body error also gets the graceful stop first;
    a cancelled body (or KeyboardInterrupt) cancels everything at once.
    """
    supervisor = Supervisor(grace_s=grace_s)
    body_error: Exception | None = None
    async with trio.open_nursery() as sink_nursery:
        async with trio.open_nursery() as producer_nursery:
            supervisor._attach(sink_nursery=sink_nursery, producer_nursery=producer_nursery)
            # Yielding inside the nurseries is the context-manager exception to rule 13: the
            # body runs as the nurseries' body, exactly like `async with open_nursery()`.
            try:
                yield supervisor
            except Exception as exc:  # held until the actors have stopped gracefully
                body_error = exc
                supervisor.request_shutdown(f"error in supervisor body: {_describe(exc)}")
            finally:
                supervisor.request_shutdown("supervisor context exited")
            await supervisor._stop_producers()
        supervisor._stop_sinks()
    errors = supervisor._errors_to_raise(body_error)
    if errors:
        raise ExceptionGroup("supervised actors failed", errors)


def _describe(error: BaseException) -> str:
    """``Type: message`` of the innermost error when groups hold just one, shortened."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    message = str(error)
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 1] + "…"
