"""Detect a shim that stopped reading, and cut its connection.

hypercorn 0.18's trio worker writes every frame with ``send_all`` inside a *shielded* cancel
scope with no timeout (reference trio-stack.md §7, pitfall 7). Once the peer stops reading and
the socket buffers fill, that send blocks for good: ``move_on_after`` around it never fires,
and the stuck task keeps hypercorn (and so the whole process) from shutting down. Only closing
the socket unblocks it (trio wakes a task blocked on a socket that another task closes).

So the endpoint times each send with a :class:`SendWatchdog`; when one send has been blocked
for ``stall_s``, it cancels the request and closes the socket found by :func:`socket_stream_of`.

Synopsis::

    watchdog = SendWatchdog(PIPE_SEND_STALL_S)
    nursery.start_soon(stop_when_stalled, watchdog, socket_stream_of(ws), nursery.cancel_scope)
    with watchdog.sending():
        await ws.send(text)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import trio
from quart.wrappers import Websocket

logger = logging.getLogger("pipe_service.front.pipe_transport")

PIPE_OUTBOX_SIZE: Final = 64
"""Frames buffered between a request's renderer and the socket writer; a full outbox
back-pressures the turn (and so the upstream stream)."""

PIPE_SEND_STALL_S: Final = 15.0
"""A frame the shim has not taken for this long means it stopped reading: the request is
cancelled and the connection closed. Generous, because a busy Open WebUI event loop can pause
its reads for seconds; short enough that a stuck peer cannot hold a slot for long."""

CLOSE_LIMIT_S: Final = 1.0
"""Bound on sending the close frame (and on closing the socket) at the end of a session."""


class SendWatchdog:
    """Tracks how long the current send has been blocked. Not thread-safe; one per connection."""

    def __init__(self, stall_s: float) -> None:
        if stall_s <= 0:
            raise ValueError("stall_s must be positive")
        self.stall_s = stall_s
        self._busy_since: float | None = None
        self._send_started = trio.Event()

    @contextmanager
    def sending(self) -> Iterator[None]:
        """Mark one send in progress for the duration of the block."""
        self._busy_since = trio.current_time()
        self._send_started.set()
        try:
            yield
        finally:
            self._busy_since = None

    async def wait_stalled(self) -> None:
        """Return once a single send has been in progress for ``stall_s``."""
        while True:
            started = self._busy_since
            if started is None:
                self._send_started = trio.Event()
                await self._send_started.wait()
                continue
            deadline = started + self.stall_s
            if trio.current_time() >= deadline:
                return
            await trio.sleep_until(deadline)


def socket_stream_of(websocket: Websocket) -> trio.abc.AsyncResource | None:
    """The trio stream under a quart-trio WebSocket served by hypercorn 0.18 (HTTP/1.1), or None.

    Walks quart's send callable to hypercorn's ``TCPServer.stream``; these are private
    attributes of two exactly pinned packages, checked hop by hop, so a layout change yields
    None (the request is still cancelled; only the socket stays open until the peer leaves).
    """
    try:
        asgi_send: Any = websocket._send.args[0]  # type: ignore[attr-defined]  # quart partial
        ws_stream = asgi_send.__self__  # hypercorn WSStream.app_send
        h11_protocol = ws_stream.send.__self__  # H11Protocol.stream_send
        tcp_server = h11_protocol.send.__self__  # TCPServer.protocol_send
        stream = tcp_server.stream
    except (AttributeError, IndexError):
        return None
    return stream if isinstance(stream, trio.abc.AsyncResource) else None


async def stop_when_stalled(
    watchdog: SendWatchdog,
    stream: trio.abc.AsyncResource | None,
    session_scope: trio.CancelScope,
) -> None:
    """Wait for a stalled send; then cancel the session and close the socket under it."""
    await watchdog.wait_stalled()
    logger.warning(
        "shim stopped reading: closing its connection",
        extra={"stall_s": watchdog.stall_s, "socket_found": stream is not None},
    )
    session_scope.cancel()
    if stream is not None:
        # Closing wakes the send blocked inside hypercorn's shield with ClosedResourceError,
        # which hypercorn handles as a closed connection.
        with trio.move_on_after(CLOSE_LIMIT_S, shield=True):
            await stream.aclose()
