"""Bound every socket write of the front: a client that stops reading is cut off, not waited for.

hypercorn 0.18's trio worker writes with ``send_all`` inside a *shielded* cancel scope and no
timeout (reference/trio-stack.md §7, pitfall 7). Once a peer stops reading and the socket
buffers fill, that write blocks forever: no ``move_on_after`` in the app can reach it, the
request holds its admission slot, and the process cannot shut down. This module replaces that
one method, ``TCPServer.protocol_send``, with a copy whose shielded write has a deadline; past it
the connection is closed, which hypercorn then reports to the app as a disconnect (the app's
request is cancelled, upstream stream included). It covers every route: SSE streams and the
shim's WebSocket alike.

hypercorn is pinned below 0.19 for this reason; ``install_send_timeout`` checks that the method
it replaces still has the shape it was written against and refuses to patch otherwise.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

import trio
from hypercorn.events import Closed, RawData
from hypercorn.trio.tcp_server import TCPServer

logger = logging.getLogger("pipe_service.front.send_timeout")

_ORIGINAL = TCPServer.protocol_send
_state: dict[str, float] = {}


async def _bounded_protocol_send(self: Any, event: Any) -> None:
    if not isinstance(event, RawData):
        await _ORIGINAL(self, event)
        return
    limit_s = _state["limit_s"]
    async with self.send_lock:
        try:
            # Shielded as in hypercorn (a half-written frame must not be abandoned by a
            # cancelled app), but with our deadline: the scope's own deadline still fires.
            # The deadline is given to the constructor: setting it on an entered scope costs
            # a second pass through trio's deadline bookkeeping on every write.
            with trio.CancelScope(shield=True, deadline=trio.current_time() + limit_s) as scope:
                await self.stream.send_all(event.data)
            stalled = scope.cancelled_caught
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            stalled = False
            await self.protocol.handle(Closed())
            return
    if stalled:
        logger.warning("client stopped reading for %s s: closing its connection", limit_s)
        with trio.move_on_after(1.0, shield=True):
            await self.stream.aclose()
        await self.protocol.handle(Closed())


def install_send_timeout(limit_s: float) -> None:
    """Make every write of this process's hypercorn trio servers give up after ``limit_s``."""
    if limit_s <= 0:
        raise ValueError("the send limit must be positive")
    source = inspect.getsource(_ORIGINAL)
    if "send_all(event.data)" not in source or "shield = True" not in source:
        raise RuntimeError(
            "hypercorn's TCPServer.protocol_send changed shape; review "
            "pipe_service/front/send_timeout.py before upgrading hypercorn"
        )
    _state["limit_s"] = limit_s
    TCPServer.protocol_send = _bounded_protocol_send  # type: ignore[method-assign]
