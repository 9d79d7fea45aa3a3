"""httpx transports for the tests' own clients that send a request body as one chunk.

httpx's ``ByteStream.__aiter__`` is an async generator: a request whose body write is cut off
(the test cancels it, or a SIGKILLed sidecar resets the socket) leaves it suspended, to be
finalised by the garbage collector at a random later time, which pytest reports as an
unraisable ``ResourceWarning`` in whichever test runs then. The sidecar's own client sends its
bodies with :class:`pipe_service.openrouter.client.OneChunkBody` for the same reason; these
transports give the tests' clients the same body.
"""

from __future__ import annotations

import httpx

from pipe_service.openrouter.client import OneChunkBody


class OneChunkTransport(httpx.AsyncBaseTransport):
    """Wraps a transport; a fixed (already read) request body goes out as a plain iterator."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if isinstance(request.stream, httpx.ByteStream):
            request.stream = OneChunkBody(request.content)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def uds_transport(path: str) -> OneChunkTransport:
    return OneChunkTransport(httpx.AsyncHTTPTransport(uds=path))


def tcp_transport() -> OneChunkTransport:
    return OneChunkTransport(httpx.AsyncHTTPTransport())
