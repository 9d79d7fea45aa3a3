"""One request's trace: its ids, its phase timings and its outcome, reachable from any layer.

The front opens a trace when a chat request arrives (:meth:`Telemetry.track_request`) and puts it
in a context variable. Trio copies the context into every task the request starts (the turn in
the sessions actor, the coalescer, the tool loop), so deeper layers record their phase with one
call and no extra parameter::

    with time_phase("transform"):
        payload = build_payload(request)
    mark("first_byte")

Both are no-ops outside a request (tests driving a turn directly, the catalog fetch).

Phases (``PHASES``): ``admission_wait``, ``transform``, ``upstream_connect``, ``tools`` and
``persistence`` are *durations* (summed over a tool loop's several upstream calls);
``first_byte`` and ``first_delta_out`` are *offsets* from the request's arrival (the first one
wins). ``first_delta_out`` is the time to first token the user sees.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import trio

from pipe_service.openrouter.usage import Usage

DURATION_PHASES = ("admission_wait", "transform", "upstream_connect", "tools", "persistence")
OFFSET_PHASES = ("first_byte", "first_delta_out")
PHASES = (*DURATION_PHASES, *OFFSET_PHASES)


@dataclass(frozen=True)
class RequestIds:
    """What every log record of a request carries."""

    request_id: str
    user_id: str | None = None
    chat_id: str | None = None


@dataclass
class RequestTrace:
    """The mutable record of one request while it runs (one task family writes it)."""

    ids: RequestIds
    front: str
    model: str
    stream: bool
    started_at: float
    log_lines: deque[str]
    show_timing: bool = False
    phases: dict[str, float] = field(default_factory=dict)
    outcome: str | None = None
    error_class: str | None = None
    usage: Usage | None = None  # the final usage (``Completed.usage``), else summed events

    def add_duration(self, phase: str, seconds: float) -> None:
        self.phases[phase] = self.phases.get(phase, 0.0) + max(0.0, seconds)

    def mark(self, phase: str, now: float) -> None:
        if phase not in self.phases:
            self.phases[phase] = max(0.0, now - self.started_at)

    def fail(self, error_class: str, *, outcome: str = "error") -> None:
        """Record the request's failure (the first one named wins)."""
        if self.outcome is None:
            self.outcome = outcome
            self.error_class = error_class

    def timing_summary(self) -> str:
        """Phases in milliseconds, in ``PHASES`` order, for logs and the usage line."""
        shown = [name for name in PHASES if name in self.phases]
        return ", ".join(f"{name} {self.phases[name] * 1000:.0f} ms" for name in shown)


_CURRENT: ContextVar[RequestTrace | None] = ContextVar("pipe_service_request_trace", default=None)


def current_trace() -> RequestTrace | None:
    """The trace of the request this task serves, if any."""
    return _CURRENT.get()


def new_request_id() -> str:
    return f"req_{secrets.token_hex(8)}"


def current_request_id() -> str:
    """The id of the request this task serves: one id per request, minted when its trace
    opens (at arrival) and reused by its turn; a new one outside a request."""
    trace = _CURRENT.get()
    return trace.ids.request_id if trace is not None else new_request_id()


@contextmanager
def bind_trace(trace: RequestTrace) -> Iterator[RequestTrace]:
    """Make ``trace`` current for this task and every task it starts from here."""
    token = _CURRENT.set(trace)
    try:
        yield trace
    finally:
        try:
            _CURRENT.reset(token)
        except ValueError:
            # A streamed HTTP body may end (and leave this block) in another task than the
            # one that entered it; that task's context never saw the token.
            _CURRENT.set(None)


def mark(phase: str) -> None:
    """Record an offset phase (``first_byte``, ``first_delta_out``) once per request."""
    trace = _CURRENT.get()
    if trace is not None:
        trace.mark(phase, trio.current_time())


@contextmanager
def time_phase(phase: str) -> Iterator[None]:
    """Add the block's duration to a duration phase of the current request."""
    trace = _CURRENT.get()
    if trace is None:
        yield
        return
    began = trio.current_time()
    try:
        yield
    finally:
        trace.add_duration(phase, trio.current_time() - began)


class PhaseTimer:
    """A duration phase started now and stopped explicitly (for spans that do not fit a
    ``with`` block, such as entering an async context manager). Stopping twice counts once."""

    __slots__ = ("_began", "_phase", "_trace")

    def __init__(self, phase: str) -> None:
        self._phase = phase
        self._trace = _CURRENT.get()
        self._began = trio.current_time()

    def stop(self) -> None:
        if self._trace is not None:
            self._trace.add_duration(self._phase, trio.current_time() - self._began)
            self._trace = None


def phase_timer(phase: str) -> PhaseTimer:
    """Start timing ``phase`` for the current request; call ``.stop()`` at its end."""
    return PhaseTimer(phase)
