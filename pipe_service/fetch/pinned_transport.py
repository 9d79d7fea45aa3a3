"""An httpx transport whose connections go only to the address the SSRF guard validated.

httpcore asks its network backend to ``connect_tcp(host, port)`` with the URL's host; the
:class:`PinnedBackend` connects to the validated address instead, and refuses any other host.
TLS is still started by httpcore with ``server_hostname=<the URL's host>``, so SNI and the
certificate check (hostname and chain) are exactly those of an unpinned request, while DNS is
never consulted again (no rebinding window between the check and the connect).

Synopsis::

    target = await validate_url(url, policy, resolver)
    async with httpx.AsyncClient(transport=PinnedTransport(target)) as client:
        response = await client.get(target.url)
"""

from __future__ import annotations

import ssl
import typing
from collections.abc import AsyncIterator, Iterable

import httpcore
import httpx

from pipe_service.fetch.ssrf_guard import ValidatedTarget

__all__ = ["PinnedBackend", "PinnedTransport", "ReadBudgetExceededError"]


class ReadBudgetExceededError(httpcore.ReadError):
    """The connection read more bytes than its budget (a body over the size cap)."""


class _BudgetedStream(httpcore.AsyncNetworkStream):
    """Counts every byte read from the socket and fails the read past the budget.

    The failure is raised from the innermost read on purpose: it unwinds every response-body
    generator of httpcore and httpx, so none is left suspended (breaking out of the outer
    loop instead would leave them to the garbage collector).
    """

    def __init__(self, inner: httpcore.AsyncNetworkStream, budget: int | None) -> None:
        self._inner = inner
        self._budget = budget
        self._read = 0

    async def read(
        self,
        max_bytes: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's stream interface
    ) -> bytes:
        data = await self._inner.read(max_bytes, timeout)
        self._read += len(data)
        if self._budget is not None and self._read > self._budget:
            raise ReadBudgetExceededError(f"response larger than {self._budget} bytes")
        return data

    async def write(
        self,
        buffer: bytes,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's stream interface
    ) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's stream interface
    ) -> httpcore.AsyncNetworkStream:
        tls = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        return _BudgetedStream(tls, self._budget)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects ``target.host:target.port`` to ``target.address``; any other host is refused.

    ``read_budget`` bounds the bytes read on each connection (headers and body together).
    """

    def __init__(
        self,
        target: ValidatedTarget,
        inner: httpcore.AsyncNetworkBackend | None = None,
        *,
        read_budget: int | None = None,
    ) -> None:
        self._target = target
        self._inner = inner if inner is not None else httpcore.TrioBackend()
        self._read_budget = read_budget

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if host.lower().rstrip(".").strip("[]") != self._target.host or port != self._target.port:
            raise httpcore.ConnectError(f"connection to an unvalidated host refused: {host}")
        stream = await self._inner.connect_tcp(
            str(self._target.address),
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )
        return _BudgetedStream(stream, self._read_budget)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are never fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: typing.AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except httpcore.TimeoutException as exc:
            raise httpx.ReadTimeout(str(exc)) from exc
        except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
            raise httpx.ReadError(str(exc)) from exc

    async def aclose(self) -> None:
        closer = getattr(self._stream, "aclose", None)
        if closer is not None:
            await closer()


class PinnedTransport(httpx.AsyncBaseTransport):
    """One validated target's connections (one pool, one host); build one per redirect hop."""

    def __init__(
        self,
        target: ValidatedTarget,
        *,
        ssl_context: ssl.SSLContext | None = None,
        backend: httpcore.AsyncNetworkBackend | None = None,
        read_budget: int | None = None,
    ) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context if ssl_context is not None else ssl.create_default_context(),
            max_connections=1,
            network_backend=PinnedBackend(target, backend, read_budget=read_budget),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            response = await self._pool.handle_async_request(core_request)
        except httpcore.ConnectTimeout as exc:
            raise httpx.ConnectTimeout(str(exc), request=request) from exc
        except httpcore.TimeoutException as exc:
            raise httpx.ReadTimeout(str(exc), request=request) from exc
        except httpcore.ConnectError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
            raise httpx.ReadError(str(exc), request=request) from exc
        assert isinstance(response.stream, typing.AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()
