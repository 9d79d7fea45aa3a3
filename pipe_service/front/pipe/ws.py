"""``/v1/pipe``: the shim protocol endpoint (one WebSocket per chat request).

Auth: a Unix-socket peer is trusted by the socket's file mode (0660); a TCP peer must send
``Authorization: Bearer <token>`` or the handshake is refused with HTTP 401 (checked before the
route, :mod:`pipe_service.front.auth`). The session itself lives in
:mod:`pipe_service.front.pipe.session`; the frames are :mod:`pipe_service.protocol`;
``docs/protocol.md`` is the reference.

This handler is the error boundary of one connection: a broken frame is answered with an
``error`` frame by the session, a peer that vanishes mid-close is benign, and an unexpected
failure is logged here and ends only this connection.
"""

from __future__ import annotations

import logging

import trio
from quart import Blueprint, Response, current_app, websocket
from quart.wrappers import Websocket

from pipe_service.chat.gateway import ChatGateway
from pipe_service.config import Settings
from pipe_service.front.pipe import transport as pipe_transport
from pipe_service.front.pipe.session import PipeSession
from pipe_service.protocol import Error, ErrorCode, encode

logger = logging.getLogger("pipe_service.front.pipe.ws")

pipe_ws = Blueprint("pipe_ws", __name__)


@pipe_ws.websocket("/v1/pipe")
async def pipe_endpoint() -> Response | None:
    """Serve one shim-protocol session (see the module docstring)."""
    settings: Settings = current_app.config["SERVICE_CONTEXT"].settings
    ws: Websocket = websocket._get_current_object()  # type: ignore[attr-defined]
    gateway: ChatGateway | None = current_app.config.get("CHAT_GATEWAY")
    await ws.accept()
    if gateway is None:
        await _refuse(ws, Error(code=ErrorCode.INTERNAL, message="chat is not configured"))
        return None
    session = PipeSession(
        ws,
        gateway,
        outbox_size=settings.streaming.pipe_outbox_size,
        send_stall_s=settings.send_stall_s,
        handshake_timeout_s=settings.pipe_handshake_timeout_s,
        byte_budget=current_app.config["BYTE_BUDGET"],
        busy_retry_after_s=settings.admission.retry_after_s,
    )
    try:
        await session.run()
    except* trio.BusyResourceError:
        # hypercorn closing the socket while we send (the peer closed first): benign.
        logger.debug("pipe connection closed during a send")
    except* Exception as failed:
        for error in failed.exceptions:
            logger.error("pipe session failed", exc_info=error)
    return None


async def _refuse(ws: Websocket, frame: Error) -> None:
    with trio.move_on_after(pipe_transport.CLOSE_LIMIT_S):
        await ws.send(encode(frame))
        await ws.close(1000)
