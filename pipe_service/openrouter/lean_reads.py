"""Upstream reads without a cancel scope each: httpcore's trio stream, minus ``fail_after(inf)``.

httpcore's trio backend wraps every read in ``trio.fail_after(timeout)``, and with no read
timeout (streamed bodies: ``ClientConfig.stream_timeout``) that is ``fail_after(inf)``: a cancel
scope entered and closed per read that can never fire. A profile of 16 paced streams put that
at ~3% of the sidecar's CPU. Silence on a stream is bounded elsewhere, by one deadline per
stream moved on progress (``chat.upstream_relay``). This backend hands out httpcore's own
streams (connect, TLS and every other call unchanged) and reads straight from the trio stream
underneath when no timeout is asked for.

Synopsis::

    transport = httpx.AsyncHTTPTransport(limits=limits)
    install_lean_reads(transport)       # before the first request
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx
import trio

logger = logging.getLogger("pipe_service.openrouter.lean_reads")

_READ_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError)


class LeanReadStream(httpcore.AsyncNetworkStream):
    """httpcore's stream, read directly when the read has no timeout."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        # httpcore's TrioStream keeps the trio stream in ``_stream``; anything else (another
        # backend, a future httpcore) is only ever called through its public methods.
        raw = getattr(inner, "_stream", None)
        self._raw: trio.abc.ReceiveStream | None = (
            raw if isinstance(raw, trio.abc.ReceiveStream) else None
        )

    # The ``timeout`` parameters below are httpcore's interface (ASYNC109 is about ours).
    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        if timeout is not None or self._raw is None:
            return await self._inner.read(max_bytes, timeout)
        try:
            data = await self._raw.receive_some(max_bytes)
        except _READ_ERRORS as exc:
            raise httpcore.ReadError(exc) from exc
        return bytes(data)  # already bytes from a socket stream: no copy

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore.AsyncNetworkStream:
        tls = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        return LeanReadStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class LeanReadBackend(httpcore.AsyncNetworkBackend):
    """Wraps httpcore's backend: the same connections, lean reads."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )
        return LeanReadStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_unix_socket(
            path, timeout=timeout, socket_options=socket_options
        )
        return LeanReadStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def install_lean_reads(transport: httpx.AsyncHTTPTransport) -> bool:
    """Give ``transport``'s connection pool the lean backend; False (and nothing changed) when
    this httpx/httpcore does not have the shape it was written against."""
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if not isinstance(backend, httpcore.AsyncNetworkBackend):
        logger.warning("httpx transport has an unknown shape: upstream reads keep httpcore's scope")
        return False
    if not isinstance(backend, LeanReadBackend):
        pool._network_backend = LeanReadBackend(backend)  # type: ignore[union-attr]
    return True
