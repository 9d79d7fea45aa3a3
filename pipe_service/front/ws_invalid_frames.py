"""Answer a WebSocket frame the protocol layer refuses (invalid UTF-8 text) with an error frame.

wsproto validates text frames as UTF-8; on a bad one it reports a close with code 1007, and
hypercorn 0.18 then drops the connection without a word (no close frame: the peer sees a silent
close). The shim protocol promises an ``error`` frame for every bad frame, so this module
replaces ``WSStream._handle_events`` with a copy that, in that one case, first sends the
``bad_frame`` error frame and a 1007 close frame, then ends the stream as before. Everything
else is unchanged. As with :mod:`pipe_service.front.send_timeout`, the patch checks the shape
of the method it replaces and refuses to apply to a different one.
"""

from __future__ import annotations

import inspect
from typing import Any

from hypercorn.protocol.events import StreamClosed
from hypercorn.protocol.ws_stream import FrameTooLargeError, WSStream
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection, Message, Ping, TextMessage
from wsproto.frame_protocol import CloseReason

from pipe_service.protocol import Error, ErrorCode, encode

_ORIGINAL = WSStream._handle_events
_EXPECTED_LINES = (
    "for event in self.connection.events():",
    "if self.connection.state == ConnectionState.REMOTE_CLOSING:",
    "await self.send(StreamClosed(stream_id=self.stream_id))",
)
INVALID_FRAME_MESSAGE = "frame is not valid UTF-8 text"


async def _handle_events_answering_invalid_frames(self: Any) -> None:
    for event in self.connection.events():
        if isinstance(event, Message):
            try:
                self.buffer.extend(event)
            except FrameTooLargeError:
                await self._send_wsproto_event(CloseConnection(code=CloseReason.MESSAGE_TOO_BIG))
                break

            if event.message_finished:
                await self.app_put(self.buffer.to_message())
                self.buffer.clear()
        elif isinstance(event, Ping):
            await self._send_wsproto_event(event.response())
        elif isinstance(event, CloseConnection):
            if self.connection.state == ConnectionState.REMOTE_CLOSING:
                await self._send_wsproto_event(event.response())
            elif (
                event.code == CloseReason.INVALID_FRAME_PAYLOAD_DATA
                and self.connection.state == ConnectionState.OPEN
            ):
                # wsproto refused the frame itself; the peer still gets an answer.
                error = Error(code=ErrorCode.BAD_FRAME, message=INVALID_FRAME_MESSAGE)
                await self._send_wsproto_event(TextMessage(data=encode(error)))
                await self._send_wsproto_event(
                    CloseConnection(code=event.code, reason=INVALID_FRAME_MESSAGE)
                )
            await self.send(StreamClosed(stream_id=self.stream_id))


def install_invalid_frame_answers() -> None:
    """Patch hypercorn's WebSocket stream (idempotent)."""
    if WSStream._handle_events is _handle_events_answering_invalid_frames:
        return
    source = inspect.getsource(_ORIGINAL)
    if not all(line in source for line in _EXPECTED_LINES):
        raise RuntimeError(
            "hypercorn's WSStream._handle_events changed shape; review "
            "pipe_service/front/ws_invalid_frames.py before upgrading hypercorn"
        )
    WSStream._handle_events = _handle_events_answering_invalid_frames  # type: ignore[method-assign]
