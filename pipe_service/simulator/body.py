"""Plays a script (see :mod:`script`) as an HTTP body: SSE frames, keep-alives, pauses, drops.

Pauses are plain awaits between ``yield``s (never a ``yield`` inside a cancel scope). When the
server stops, every pause or stall ends at once and the body raises
:class:`SimulatedDisconnectError`, so long-paced or stalled streams cannot hold up shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import trio

from pipe_service.simulator.script import Done, Drop, Emit, Keepalive, Pause, Stall, Step
from pipe_service.simulator.sse import DONE_FRAME, KEEPALIVE_FRAME, frame_event


class SimulatedDisconnectError(Exception):
    """Raised by a body to make the server close the connection without finishing the response."""


async def sleep_unless_stopping(seconds: float, stopping: trio.Event) -> bool:
    """Sleep ``seconds``; return True (early) if ``stopping`` is set first."""
    with trio.move_on_after(seconds):
        await stopping.wait()
        return True
    return False


async def play_stream(
    steps: list[Step], stopping: trio.Event, on_end: Callable[[bool], None]
) -> AsyncIterator[bytes]:
    """Yield the SSE bytes of ``steps``; ``on_end(finished)`` runs however the body ends."""
    finished = False
    try:
        for step in steps:
            if isinstance(step, Emit):
                yield frame_event(step.event)
            elif isinstance(step, Keepalive):
                yield KEEPALIVE_FRAME
            elif isinstance(step, Pause):
                deadline = trio.current_time() + step.seconds
                while (remaining := deadline - trio.current_time()) > 0:
                    if await sleep_unless_stopping(
                        min(remaining, step.keepalive_interval_s), stopping
                    ):
                        raise SimulatedDisconnectError("server stopping")
                    if trio.current_time() < deadline:
                        yield KEEPALIVE_FRAME
            elif isinstance(step, Stall):
                if await sleep_unless_stopping(step.seconds, stopping):
                    raise SimulatedDisconnectError("server stopping")
            elif isinstance(step, Drop):
                raise SimulatedDisconnectError("scenario drops the connection")
            elif isinstance(step, Done):
                yield DONE_FRAME
        finished = True
    finally:
        on_end(finished)


async def play_truncated(body: bytes) -> AsyncIterator[bytes]:
    """Half of ``body``, then a dropped connection (non-stream ``sim/disconnect``)."""
    yield body[: len(body) // 2]
    raise SimulatedDisconnectError("scenario drops the connection")
