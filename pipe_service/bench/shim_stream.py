"""One measured stream over the shim protocol: ``/v1/pipe`` on the sidecar's Unix socket.

It sends the frames the shim sends (``hello``, then one ``request``), one WebSocket per chat as
the shim does, and measures up to the ``done`` frame. Afterwards it waits for the sidecar to
close the socket (the protocol lets the server close first; see trio-stack.md, WebSocket
addendum), outside the measured time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import trio
import trio_websocket

from pipe_service.bench.plan import MODEL, PROMPT
from pipe_service.bench.streams import StreamSample

PIPE_RESOURCE: Final = "/v1/pipe"
CLOSE_LIMIT_S: Final = 5.0
MAX_MESSAGE_BYTES: Final = 64 * 1024 * 1024
_STREAM_ERRORS: Final = (
    trio_websocket.HandshakeError,
    trio_websocket.ConnectionClosed,
    OSError,
    trio.BrokenResourceError,
    json.JSONDecodeError,
    KeyError,
)


def request_frame() -> dict[str, Any]:
    """The ``request`` frame of a plain streaming chat, as the shim builds it."""
    return {
        "type": "request",
        "model": MODEL,
        "body": {"messages": [{"role": "user", "content": PROMPT}], "stream": True},
        "stream": True,
        "user": {"id": "bench-user"},
        "metadata": {"chat_id": "bench-chat", "message_id": "bench-message"},
    }


async def pipe_stream(socket_path: Path) -> StreamSample:
    """hello → welcome → request → ``delta``… → ``done``; errors come back as a sample."""
    started = trio.current_time()
    try:
        stream = await trio.open_unix_socket(str(socket_path))
    except OSError as exc:
        return StreamSample(None, None, 0, "", type(exc).__name__)
    try:
        async with trio.open_nursery() as nursery:
            # Error boundary of one stream, as in streams._measure. Inside the nursery so the
            # error is caught before strict ExceptionGroups would wrap it.
            try:
                connection = await trio_websocket.wrap_client_stream(
                    nursery, stream, "sidecar", PIPE_RESOURCE, max_message_size=MAX_MESSAGE_BYTES
                )
                sample = await _converse(connection, started)
                await _wait_for_close(connection)
            except _STREAM_ERRORS as exc:
                sample = StreamSample(None, None, 0, "", type(exc).__name__)
            # The connection's reader task would otherwise keep the nursery open.
            nursery.cancel_scope.cancel()
    finally:
        with trio.move_on_after(CLOSE_LIMIT_S, shield=True):
            await stream.aclose()
    return sample


async def _converse(connection: trio_websocket.WebSocketConnection, started: float) -> StreamSample:
    await connection.send_message(json.dumps({"type": "hello", "protocols": [1]}))
    welcome = json.loads(await connection.get_message())
    if welcome.get("type") != "welcome":
        return StreamSample(None, None, 0, "", f"handshake: {welcome.get('type')}")
    await connection.send_message(json.dumps(request_frame()))
    first_text: float | None = None
    last_text = 0.0
    max_gap: float | None = None
    parts: list[str] = []
    while True:
        frame = json.loads(await connection.get_message())
        kind = frame.get("type")
        if kind == "delta":
            now = trio.current_time() - started
            if first_text is None:
                first_text = now
            else:
                max_gap = max(max_gap or 0.0, now - last_text)
            last_text = now
            parts.append(frame["text"])
        elif kind == "done":
            total = trio.current_time() - started
            text = "".join(parts)
            if first_text is None:
                return StreamSample(None, None, 0, text, "no text")
            return StreamSample(first_text, total, len(parts), text, max_gap_s=max_gap)
        elif kind in ("error", "busy"):
            return StreamSample(None, None, len(parts), "".join(parts), f"{kind} frame")


async def _wait_for_close(connection: trio_websocket.WebSocketConnection) -> None:
    with trio.move_on_after(CLOSE_LIMIT_S):
        try:
            while True:
                await connection.get_message()
        except trio_websocket.ConnectionClosed:
            return
