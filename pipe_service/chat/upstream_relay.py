"""Relay one upstream stream into turn events, with one deadline that watches for silence.

The body is decoded by the one SSE path
(:func:`~pipe_service.openrouter.sse.iter_sse_json_batches`, a ``trio.as_safe_channel`` of the
events of each read: its receive is cancel-safe) and translated as it arrives. One cancel
scope covers the relay; its deadline is moved on progress — never a ``fail_after`` per read, never
a watcher task — and fires only when something is due:

* no event for ``status_after_s``: a visible "Waiting for the provider (N s)…" status, refreshed
  every ``status_every_s`` while the silence lasts, and closed (``done``) when output resumes;
* no byte at all (keep-alive comments count) for ``stall_timeout_s``: the stream is abandoned as
  ``stalled``. Models that think for minutes keep the bytes flowing through OpenRouter's
  keep-alives, so they are shown as waiting, not cut.

The client's own pace (a full outbox) never counts as silence: the deadline is lifted while an
event is handed on.

Synopsis::

    async with iter_sse_json_batches(upstream.aiter_bytes(), max_event_bytes=MAX) as batches:
        await relay_event_batches(batches, upstream, translator, emit, policy)
"""

from __future__ import annotations

import math
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import trio

from pipe_service.chat.events import Failed, Status, TurnEvent
from pipe_service.chat.turn_request import Emit, TurnError
from pipe_service.openrouter.errors import UpstreamError, UpstreamErrorKind
from pipe_service.openrouter.sse import SSEProtocolError, iter_sse_json_batches
from pipe_service.openrouter.upstream_stream import UpstreamStream
from pipe_service.telemetry.trace import mark, phase_timer

__all__ = [
    "StallPolicy",
    "StreamTranslator",
    "mid_stream_failure",
    "relay_event_batches",
    "waiting_status",
]


@dataclass(frozen=True)
class StallPolicy:
    """When silence is shown, and when it ends the stream."""

    status_after_s: float = 5.0
    status_every_s: float = 5.0
    stall_timeout_s: float = 120.0
    max_event_bytes: int = 8 * 1024 * 1024
    """Largest single SSE event accepted (not a time, but read with the stream like them)."""

    def __post_init__(self) -> None:
        if min(self.status_after_s, self.status_every_s, self.stall_timeout_s) <= 0:
            raise ValueError("stall policy times must be positive")


class ByteProgress(Protocol):
    """What the relay reads of the upstream stream: when its last byte arrived."""

    @property
    def last_byte_at(self) -> float: ...


class StreamTranslator(Protocol):
    """What the relay feeds: the Responses translator or the /chat/completions one."""

    @property
    def finished(self) -> bool: ...

    def feed(self, event: dict[str, Any]) -> list[TurnEvent]: ...

    def finish(self) -> list[TurnEvent]: ...


def mid_stream_failure(exc: Exception) -> Failed:
    """The :class:`Failed` event for a stream that broke after it started (either endpoint)."""
    if isinstance(exc, UpstreamError):
        return Failed(
            code=exc.kind.value,
            message=exc.message,
            error_type=exc.error_type,
            response_id=None,
            failure=exc,  # the error raised where the stream broke, its id intact
        )
    return Failed(
        code=UpstreamErrorKind.STREAM_FAILED.value,
        message=f"OpenRouter sent a malformed stream: {exc}"[:300],
        error_type="protocol",
        response_id=None,
    )


def waiting_status(silent_s: float) -> Status:
    """The status line shown while the provider is silent."""
    seconds = max(1, round(silent_s))
    return Status(description=f"Waiting for the provider ({seconds} s)…", done=False)


class _Silence:
    """The relay's clock: when the last event came and when something is next due."""

    def __init__(self, policy: StallPolicy, upstream: ByteProgress) -> None:
        self._policy = policy
        self._upstream = upstream
        self.last_event_at = trio.current_time()
        self.next_status_at = self.last_event_at + policy.status_after_s
        self.shown = False
        self.shown_text = ""

    def alarm(self) -> float:
        return min(self.next_status_at, self._upstream.last_byte_at + self._policy.stall_timeout_s)

    def progress(self) -> None:
        self.last_event_at = trio.current_time()
        self.next_status_at = self.last_event_at + self._policy.status_after_s

    def stalled(self) -> bool:
        return trio.current_time() >= self._upstream.last_byte_at + self._policy.stall_timeout_s

    def status_due(self) -> Status | None:
        now = trio.current_time()
        if now < self.next_status_at:
            return None
        self.next_status_at = now + self._policy.status_every_s
        self.shown = True
        status = waiting_status(now - self.last_event_at)
        self.shown_text = status.description
        return status


async def relay_event_batches(
    batches: trio.abc.ReceiveChannel[list[dict[str, Any]]],
    upstream: ByteProgress,
    translator: StreamTranslator,
    emit: Emit,
    policy: StallPolicy,
) -> None:
    """Translate and emit every event until the stream ends or the translator is finished.

    ``batches`` holds the events of one network read each
    (:func:`~pipe_service.openrouter.sse.iter_sse_json_batches`): one hop per read instead of
    one per event, and a read's deltas reach the outbox together, where they merge while the
    renderer is busy. Raises :class:`UpstreamError` (``stalled``) when no byte arrives for
    ``policy.stall_timeout_s``. The caller decides what an end without a terminal event means.
    """
    silence = _Silence(policy, upstream)
    first = True
    while True:
        with trio.CancelScope(deadline=silence.alarm()) as watch:
            async for batch in batches:
                watch.deadline = math.inf  # handing on output is the client's pace, not silence
                if first:
                    first = False
                    mark("first_byte")  # the request's phase timing: the first upstream event
                silence.progress()
                if silence.shown:  # end the waiting line's shimmer, keep it as a record
                    silence.shown = False
                    await emit(Status(description=silence.shown_text, done=True))
                for event in batch:
                    for output in translator.feed(event):
                        await emit(output)
                    if translator.finished:
                        return
                watch.deadline = silence.alarm()
            return  # the stream ended
        # The deadline fired while waiting for the next event.
        if silence.stalled():
            raise UpstreamError(
                UpstreamErrorKind.STALLED,
                f"no data from OpenRouter for {policy.stall_timeout_s:g} s",
            )
        status = silence.status_due()
        if status is not None:
            await emit(status)


async def relay_upstream_stream(
    stream_cm: AbstractAsyncContextManager[UpstreamStream],
    translator: StreamTranslator,
    emit: Emit,
    policy: StallPolicy,
) -> None:
    """Open one upstream stream (either endpoint), relay its events, then the translator's end.

    A failure before the stream opened is one :class:`TurnError`; a failure after it opened
    (transport, stall, a malformed stream) is a mid-stream :class:`Failed` after what was shown.
    """
    try:
        connect = phase_timer("upstream_connect")
        async with stream_cm as upstream:
            connect.stop()
            try:
                async with iter_sse_json_batches(
                    upstream.aiter_bytes(), max_event_bytes=policy.max_event_bytes
                ) as batches:
                    await relay_event_batches(batches, upstream, translator, emit, policy)
            except (UpstreamError, SSEProtocolError) as exc:
                await emit(mid_stream_failure(exc))
                return
    except UpstreamError as exc:
        await emit(TurnError(exc))
        return
    for event in translator.finish():
        await emit(event)
