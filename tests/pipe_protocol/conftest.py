"""A shim-protocol client for tests: trio-websocket over the sidecar's Unix socket (or TCP).

Every test talks to a live sidecar (``tests.service.conftest.sidecar``: the whole service with
the simulator upstream) over the same bytes the shim sends, and reads frames as plain dicts.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import trio
import trio_websocket

from tests.service import conftest as service_conftest
from tests.service.conftest import Sidecar

# The live-sidecar fixtures, shared with tests/service.
sidecar = service_conftest.sidecar
sidecar_overrides = service_conftest.sidecar_overrides

CLIENT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def chat_body(text: str = "hello pipe", **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], **extra}


def request_frame(model: str = "sim/text", **fields: Any) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "request",
        "model": model,
        "body": chat_body(),
        "user": {"id": "user-1", "name": "Ada"},
        "metadata": {"chat_id": "chat-1", "message_id": "msg-1"},
    }
    frame.update(fields)
    return frame


@dataclass
class Session:
    """What a finished session looked like from the shim's side."""

    frames: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None

    def of_type(self, frame_type: str) -> list[dict[str, Any]]:
        return [frame for frame in self.frames if frame["type"] == frame_type]

    @property
    def last(self) -> dict[str, Any]:
        return self.frames[-1]

    @property
    def text(self) -> str:
        return "".join(frame["text"] for frame in self.of_type("delta"))


class PausableStream(trio.abc.Stream):
    """A socket stream whose reads can be paused: a shim that stops reading for real.

    trio-websocket reads whole messages into memory whatever their size, so only holding back
    the socket reads themselves leaves the sidecar's writes to fill the kernel buffers.
    """

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner
        self._reading = trio.Event()
        self._reading.set()

    def pause_reading(self) -> None:
        self._reading = trio.Event()

    def resume_reading(self) -> None:
        self._reading.set()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await self._reading.wait()
        return await self.inner.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self.inner.aclose()


class ShimClient:
    """One WebSocket to ``/v1/pipe``, speaking JSON frames."""

    def __init__(
        self, connection: trio_websocket.WebSocketConnection, stream: PausableStream
    ) -> None:
        self.connection = connection
        self.stream = stream

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        if isinstance(frame, dict):
            await self.connection.send_message(json.dumps(frame))
        else:
            await self.connection.send_message(frame)

    async def receive(self) -> dict[str, Any]:
        message = await self.connection.get_message()
        decoded: dict[str, Any] = json.loads(message)
        return decoded

    async def receive_until(self, frame_type: str) -> dict[str, Any]:
        """Skip frames (status events, deltas) up to the first of ``frame_type``."""
        while True:
            frame = await self.receive()
            if frame["type"] == frame_type:
                return frame

    async def hello(self, protocols: list[int] | None = None) -> dict[str, Any]:
        await self.send({"type": "hello", "protocols": protocols or [1], "shim_version": "test"})
        return await self.receive()

    async def until_closed(self) -> Session:
        """Read every frame until the sidecar closes the connection."""
        session = Session()
        while True:
            try:
                session.frames.append(await self.receive())
            except trio_websocket.ConnectionClosed as closed:
                session.close_code = closed.reason.code if closed.reason else None
                return session

    async def run(self, request: dict[str, Any]) -> Session:
        """hello, welcome, request; then everything up to the close (welcome excluded)."""
        welcome = await self.hello()
        assert welcome["type"] == "welcome"
        await self.send(request)
        return await self.until_closed()


@asynccontextmanager
async def open_shim(
    sidecar: Sidecar,
    *,
    tcp: bool = False,
    token: str | None = None,
    message_queue_size: int = 64,
) -> AsyncIterator[ShimClient]:
    """Connect to the sidecar's ``/v1/pipe`` (Unix socket by default)."""
    if tcp:
        socket_stream = await trio.open_tcp_stream("127.0.0.1", sidecar.settings.port)
    else:
        socket_stream = await trio.open_unix_socket(str(sidecar.settings.effective_socket_path))
    stream = PausableStream(socket_stream)
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else None
    try:
        async with trio.open_nursery() as nursery:
            connection = await trio_websocket.wrap_client_stream(
                nursery,
                stream,
                "sidecar",
                "/v1/pipe",
                extra_headers=headers,
                message_queue_size=message_queue_size,
                max_message_size=CLIENT_MAX_MESSAGE_BYTES,
            )
            try:
                yield ShimClient(connection, stream)
            finally:
                with trio.move_on_after(2, shield=True):
                    await connection.aclose()
                nursery.cancel_scope.cancel()
    finally:
        # trio-websocket leaves the stream open when the handshake is rejected.
        with trio.move_on_after(2, shield=True):
            await stream.aclose()


async def run_request(sidecar: Sidecar, request: dict[str, Any]) -> Session:
    """One whole session over the Unix socket."""
    with trio.fail_after(10):
        async with open_shim(sidecar) as shim:
            return await shim.run(request)
