"""Track each chat request from arrival to end: the trace, the end-of-request log line, metrics.

Both front doors (the shim protocol and the OpenAI API) wrap a request in
:meth:`Telemetry.track_request` and show it every turn output with :meth:`Telemetry.observe`;
that is the whole hook. When the block ends, one ``request finished`` log line carries the
outcome, the phase timings, tokens and cost (ids come from the trace's context), the request
metrics are updated, and the user's request breaker learns the verdict.

Synopsis::

    with telemetry.track_request(front="pipe", model=slug, stream=True,
                                 user_id=uid, chat_id=cid) as trace:
        async for item in handle:
            telemetry.observe(trace, item)
            ...render item...
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import trio

from pipe_service.admission.gate import ServerBusyError
from pipe_service.admission.user_breaker import UserRequestBreaker, UserThrottledError
from pipe_service.chat.events import Completed, Failed, ReasoningDelta, TextDelta
from pipe_service.chat.failure import SHUTTING_DOWN
from pipe_service.chat.turn import failure_as_error
from pipe_service.chat.turn_request import TurnError, TurnOutput
from pipe_service.logsink.messages import RequestLog
from pipe_service.openrouter.errors import UpstreamError
from pipe_service.openrouter.usage import Usage
from pipe_service.telemetry.recent import RecentRequests, RecentStatistics
from pipe_service.telemetry.request_metrics import RequestMetrics
from pipe_service.telemetry.trace import (
    PHASES,
    RequestIds,
    RequestTrace,
    bind_trace,
    new_request_id,
)

logger = logging.getLogger("pipe_service.requests")

# Outcomes that say nothing about the user's own requests: never count toward their breaker.
_NOT_THE_USERS_FAULT = frozenset({"busy", "slow_down", "cancelled", "shutting_down", "catalog"})


@dataclass(frozen=True)
class RequestStatistics:
    in_flight: int
    streams_in_flight: int
    totals: dict[str, int]  # ended requests by outcome, since start
    recent: RecentStatistics


def error_class(exc: BaseException) -> str:
    """A short, bounded label for a failure (a metric label and a log field)."""
    if isinstance(exc, UserThrottledError):
        return "slow_down"
    if isinstance(exc, ServerBusyError):
        return "busy"
    if isinstance(exc, UpstreamError):
        return f"upstream_{exc.kind.value}"
    if isinstance(exc, ValueError):
        return "invalid_request"
    return "internal"


def failed_class(failed: Failed) -> str:
    """A bounded label for a mid-stream failure (its code may be any provider string)."""
    if failed.code == SHUTTING_DOWN:
        return "shutting_down"
    return f"interrupted_{failure_as_error(failed).kind.value}"


class Telemetry:
    """The per-process request tracker (one per service; the front holds it)."""

    def __init__(
        self,
        metrics: RequestMetrics,
        *,
        log_buffer_lines: int = 50,
        user_breaker: UserRequestBreaker | None = None,
    ) -> None:
        self.metrics = metrics
        self.log_buffer_lines = log_buffer_lines
        self.user_breaker = user_breaker
        self.recent = RecentRequests()
        self.in_flight = 0
        self.streams_in_flight = 0
        self.archive: Callable[[RequestLog], None] | None = None
        """Set by the service when log archives are on: takes each finished request's log."""

    def statistics(self) -> RequestStatistics:
        """For ``/status``, ``status`` and ``top``: what runs now, totals, the last minute."""
        return RequestStatistics(
            in_flight=self.in_flight,
            streams_in_flight=self.streams_in_flight,
            totals=dict(self.recent.totals),
            recent=self.recent.statistics(trio.current_time()),
        )

    @contextmanager
    def track_request(
        self,
        *,
        front: str,
        model: str,
        stream: bool,
        user_id: str | None = None,
        chat_id: str | None = None,
        show_timing: bool = False,
        request_id: str | None = None,
    ) -> Iterator[RequestTrace]:
        """Trace one request for the duration of the block (see the module docstring)."""
        trace = RequestTrace(
            ids=RequestIds(request_id or new_request_id(), user_id, chat_id),
            front=front,
            model=model,
            stream=stream,
            started_at=trio.current_time(),
            log_lines=deque(maxlen=max(1, self.log_buffer_lines)),
            show_timing=show_timing,
        )
        in_flight = self.metrics.requests_in_flight.labels(front)
        in_flight.inc()
        self.in_flight += 1
        if stream:
            self.metrics.streams_in_flight.inc()
            self.streams_in_flight += 1
        try:
            with bind_trace(trace):
                logger.debug(
                    "request started", extra={"front": front, "model": model, "stream": stream}
                )
                try:
                    yield trace
                except BaseException as exc:
                    # Cancelled: the client left or the service stops; anything else is a bug
                    # the front's own error boundary reports.
                    if isinstance(exc, trio.Cancelled):
                        trace.fail("cancelled", outcome="cancelled")
                    else:
                        trace.fail(error_class(exc))
                    raise
                finally:
                    self._finish(trace)
        finally:
            in_flight.dec()
            self.in_flight -= 1
            if stream:
                self.metrics.streams_in_flight.dec()
                self.streams_in_flight -= 1

    def observe(self, trace: RequestTrace, item: TurnOutput) -> None:
        """Learn from one turn output: first delta out, usage, the outcome."""
        if isinstance(item, TextDelta | ReasoningDelta):
            trace.mark("first_delta_out", trio.current_time())
        elif isinstance(item, Usage):
            trace.usage = item if trace.usage is None else trace.usage + item
        elif isinstance(item, Completed):
            if item.usage is not None:
                trace.usage = item.usage  # the turn's total (a tool loop sums its runs)
            if item.model:
                trace.model = item.model
            if trace.outcome is None:
                trace.outcome = "completed" if item.status == "completed" else "incomplete"
        elif isinstance(item, Failed):
            trace.fail(failed_class(item), outcome="failed")
        elif isinstance(item, TurnError):
            trace.fail(error_class(item.error))

    # -- the end of a request -------------------------------------------------------------

    def _finish(self, trace: RequestTrace) -> None:
        now = trio.current_time()
        duration = max(0.0, now - trace.started_at)
        outcome = trace.outcome or "ended"
        metrics = self.metrics
        metrics.requests.labels(trace.front, outcome).inc()
        metrics.duration.labels(trace.front, outcome).observe(duration)
        if "first_delta_out" in trace.phases:
            metrics.time_to_first_token.labels(trace.front).observe(trace.phases["first_delta_out"])
        for phase, seconds in trace.phases.items():
            metrics.phase.labels(phase).observe(seconds)
        if trace.error_class is not None:
            metrics.errors.labels(trace.error_class).inc()
        usage = trace.usage or Usage()
        tokens = {
            "input": usage.input_tokens,
            "output": usage.output_tokens,
            "reasoning": usage.reasoning_tokens,
            "cached": usage.cached_tokens,
        }
        for kind, count in tokens.items():
            if count:
                metrics.tokens.labels(trace.model, kind).inc(count)
        if usage.cost:
            metrics.cost.labels(trace.model).inc(usage.cost)
        self._teach_breaker(trace, now)
        self.recent.add(
            now=now,
            outcome=outcome,
            error=trace.error_class is not None and outcome != "cancelled",
            ttft_s=trace.phases.get("first_delta_out"),
            duration_s=duration,
            output_tokens=usage.output_tokens,
        )
        logger.info(
            "request finished",
            extra={
                "front": trace.front,
                "model": trace.model,
                "stream": trace.stream,
                "outcome": outcome,
                "error_class": trace.error_class,
                "duration_ms": round(duration * 1000, 1),
                **{
                    f"{name}_ms": round(trace.phases[name] * 1000, 1)
                    for name in PHASES
                    if name in trace.phases
                },
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "cost_usd": round(usage.cost or 0.0, 6),
            },
        )
        if self.archive is not None and trace.log_lines:
            self.archive(
                RequestLog(trace.ids.request_id, tuple(trace.log_lines), finished_at=time.time())
            )

    def _teach_breaker(self, trace: RequestTrace, now: float) -> None:
        breaker = self.user_breaker
        if breaker is None or trace.outcome == "cancelled":
            return
        if trace.error_class in _NOT_THE_USERS_FAULT:
            return
        ok = trace.error_class is None
        if breaker.record(trace.ids.user_id, ok=ok, now=now):
            logger.warning(
                "user request breaker opened: new requests from this user get 'slow down'",
                extra={"window_s": breaker.statistics(now).window_s},
            )
