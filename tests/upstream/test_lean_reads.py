"""Lean upstream reads: streamed bodies read straight from the socket, errors still httpx's.

A real trio TCP server on a free port plays the upstream; httpx talks to it through a
transport with :func:`install_lean_reads` applied.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Awaitable, Callable
from functools import partial

import httpx
import pytest
import trio

from pipe_service.openrouter.lean_reads import LeanReadBackend, install_lean_reads

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
CHUNKS = [b"data: one\n\n", b"data: two\n\n", b"data: three\n\n"]

Handler = Callable[[trio.SocketStream], Awaitable[None]]


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def read_request(stream: trio.SocketStream) -> None:
    received = b""
    while b"\r\n\r\n" not in received:
        received += await stream.receive_some(65536)


async def serve_once(nursery: trio.Nursery, handler: Handler) -> int:
    listeners: list[trio.SocketListener] = await nursery.start(
        partial(trio.serve_tcp, handler, 0, host="127.0.0.1")
    )
    port: int = listeners[0].socket.getsockname()[1]
    return port


def lean_client(port: int) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport()
    assert install_lean_reads(transport)
    assert isinstance(transport._pool._network_backend, LeanReadBackend)
    return httpx.AsyncClient(transport=transport, base_url=f"http://127.0.0.1:{port}")


async def test_a_streamed_body_arrives_whole(nursery: trio.Nursery) -> None:
    async def handler(stream: trio.SocketStream) -> None:
        await read_request(stream)
        await stream.send_all(HEAD)
        for data in CHUNKS:
            await stream.send_all(chunk(data))
            await trio.sleep(0.01)  # separate reads on the client
        await stream.send_all(b"0\r\n\r\n")

    port = await serve_once(nursery, handler)
    with trio.fail_after(10):
        async with lean_client(port) as client:
            for _ in range(2):  # the second request reuses the pooled (lean) connection
                async with client.stream("GET", "/", timeout=httpx.Timeout(5, read=None)) as reply:
                    body = b"".join([part async for part in reply.aiter_bytes()])
                assert body == b"".join(CHUNKS)


async def test_a_reset_connection_is_an_httpx_read_error(nursery: trio.Nursery) -> None:
    async def handler(stream: trio.SocketStream) -> None:
        await read_request(stream)
        await stream.send_all(HEAD + chunk(CHUNKS[0]))
        await trio.sleep(0.05)
        # Close with a reset (linger 0): the client's next read fails instead of ending.
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await stream.aclose()

    port = await serve_once(nursery, handler)
    with trio.fail_after(10):
        async with (
            lean_client(port) as client,
            client.stream("GET", "/", timeout=httpx.Timeout(5, read=None)) as reply,
        ):
            parts = aiter(reply.aiter_bytes())
            assert await anext(parts) == CHUNKS[0]
            with pytest.raises(httpx.ReadError):
                await anext(parts)


def test_an_unknown_transport_shape_is_left_alone() -> None:
    class Odd(httpx.AsyncBaseTransport):
        pass

    assert install_lean_reads(Odd()) is False  # type: ignore[arg-type]
