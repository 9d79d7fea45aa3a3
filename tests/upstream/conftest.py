"""A scripted HTTP/1.1 upstream on a real 127.0.0.1 socket, for client tests.

The server is a raw trio socket server, so every delay in it runs on trio's
clock: with ``autojump_clock`` a "hang for an hour" costs nothing and elapsed
times are exact. Tests queue :class:`Reply` objects (one per request, in
order) and inspect :attr:`ScriptedUpstream.requests` afterwards.
"""

from __future__ import annotations

import contextlib
import functools
import socket
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import trio

from pipe_service.openrouter.client import OpenRouterClient
from pipe_service.openrouter.client_config import UpstreamClientConfig

_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 429: "Too Many Requests"}


@dataclass
class Reply:
    """One scripted answer.

    ``chunks`` are sent with chunked encoding; a float in it means "sleep that
    many seconds" at that point. Without chunks, ``body`` is sent with a
    Content-Length. ``hang`` keeps the response open after the chunks until the
    client disconnects; ``drop`` closes the socket mid-body; ``close_unanswered`` closes the
    connection as soon as the request arrived, without a byte of answer (a keep-alive connection
    the server closed just as the client reused it).
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunks: list[bytes | float] | None = None
    hang: bool = False
    drop: bool = False
    delay_before_headers: float = 0.0
    close_unanswered: bool = False


@dataclass
class RecordedRequest:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    connection_id: int
    at: float


class ScriptedUpstream:
    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[RecordedRequest] = []
        self.client_disconnects = 0
        self.disconnected = trio.Event()
        self.port = 0
        self._connections = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    async def handle(self, stream: trio.SocketStream) -> None:
        self._connections += 1
        connection_id = self._connections
        buffer = bytearray()
        try:
            while True:
                request = await self._read_request(stream, buffer, connection_id)
                if request is None:
                    return
                self.requests.append(request)
                reply = self.replies.popleft() if self.replies else Reply(status=599)
                if not await self._send_reply(stream, reply):
                    return
        except trio.BrokenResourceError:
            self._note_disconnect()
        finally:
            await stream.aclose()

    def _note_disconnect(self) -> None:
        self.client_disconnects += 1
        self.disconnected.set()

    async def _read_request(
        self, stream: trio.SocketStream, buffer: bytearray, connection_id: int
    ) -> RecordedRequest | None:
        while b"\r\n\r\n" not in buffer:
            data = await stream.receive_some(65536)
            if not data:
                return None
            buffer += data
        head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = bytearray(rest)
        while len(body) < length:
            data = await stream.receive_some(65536)
            if not data:
                return None
            body += data
        buffer[:] = body[length:]
        return RecordedRequest(
            method, target, headers, bytes(body[:length]), connection_id, trio.current_time()
        )

    async def _send_reply(self, stream: trio.SocketStream, reply: Reply) -> bool:
        """Send one reply; False when the connection must end afterwards."""
        if reply.close_unanswered:
            return False
        await trio.sleep(reply.delay_before_headers)
        reason = _REASONS.get(reply.status, "Status")
        head = [f"HTTP/1.1 {reply.status} {reason}"]
        head += [f"{name}: {value}" for name, value in reply.headers.items()]
        if reply.chunks is None:
            head.append(f"Content-Length: {len(reply.body)}")
            await stream.send_all(("\r\n".join(head) + "\r\n\r\n").encode() + reply.body)
            return True
        head.append("Transfer-Encoding: chunked")
        await stream.send_all(("\r\n".join(head) + "\r\n\r\n").encode())
        for chunk in reply.chunks:
            if isinstance(chunk, float):
                await trio.sleep(chunk)
            else:
                await stream.send_all(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        if reply.drop:
            return False
        if reply.hang:
            # Wait for the client to go away: EOF (or a reset) is the disconnect.
            with contextlib.suppress(trio.BrokenResourceError):  # a reset is a disconnect too
                while await stream.receive_some(65536):
                    continue
            self._note_disconnect()
            return False
        await stream.send_all(b"0\r\n\r\n")
        return True


@pytest.fixture
async def upstream(nursery: trio.Nursery) -> ScriptedUpstream:
    server = ScriptedUpstream()
    serve = functools.partial(trio.serve_tcp, server.handle, 0, host="127.0.0.1")
    listeners = await nursery.start(serve)
    server.port = listeners[0].socket.getsockname()[1]
    return server


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_config(base_url: str, **overrides: object) -> UpstreamClientConfig:
    fields: dict[str, object] = {
        "base_url": base_url,
        "api_key": "sk-or-config-key",
        "retry_jitter": 0.0,
        "shards": 2,
    }
    fields.update(overrides)
    return UpstreamClientConfig.model_validate(fields)


@pytest.fixture
async def client(upstream: ScriptedUpstream) -> AsyncIterator[OpenRouterClient]:
    async with OpenRouterClient(make_config(upstream.base_url)) as opened:
        yield opened
