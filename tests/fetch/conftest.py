"""A raw loopback HTTP(S) server that counts accepted connections, for the fetcher tests.

The server is written on raw trio sockets (not an HTTP framework) so a test controls every
byte: a ``Content-Length`` that lies, a body that never ends, a redirect to anywhere. Its
``accepts`` counter is the proof that a refused URL never opened a connection.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import trio
import trustme

from pipe_service.fetch.ssrf_guard import IPAddress

Responder = Callable[[str], list[bytes]]
"""Maps a request path to the response, as a list of raw chunks written in order."""


def response(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> list[bytes]:
    head = [f"HTTP/1.1 {status} X", "Connection: close"]
    all_headers = {"Content-Length": str(len(body)), **(headers or {})}
    head += [f"{name}: {value}" for name, value in all_headers.items()]
    return [("\r\n".join(head) + "\r\n\r\n").encode(), body]


@dataclass
class CountingServer:
    port: int
    routes: dict[str, Responder | list[bytes]] = field(default_factory=dict)
    accepts: int = 0
    paths: list[str] = field(default_factory=list)

    def url(self, path: str = "/", *, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def answer(self, path: str) -> list[bytes]:
        route = self.routes.get(path)
        if route is None:
            return response(404, b"no route")
        return route(path) if callable(route) else route


async def _serve(
    server: CountingServer, listener: trio.SocketListener, tls: ssl.SSLContext | None
) -> None:
    async def handle(stream: trio.abc.Stream) -> None:
        server.accepts += 1
        if tls is not None:
            stream = trio.SSLStream(stream, tls, server_side=True)
        head = b""
        try:
            while b"\r\n\r\n" not in head:
                chunk = await stream.receive_some(4096)
                if not chunk:
                    return
                head += chunk
            path = head.split(b" ", 2)[1].decode()
            server.paths.append(path)
            for chunk in server.answer(path):
                await stream.send_all(chunk)
        except (trio.BrokenResourceError, trio.ClosedResourceError, ssl.SSLError):
            return
        finally:
            with trio.move_on_after(1, shield=True):
                await stream.aclose()

    await trio.serve_listeners(handle, [listener])


async def _start(nursery: trio.Nursery, tls: ssl.SSLContext | None) -> CountingServer:
    sock = trio.socket.socket()
    await sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = CountingServer(port=sock.getsockname()[1])
    nursery.start_soon(_serve, server, trio.SocketListener(sock), tls)
    return server


@pytest.fixture
async def http_server(nursery: trio.Nursery) -> CountingServer:
    return await _start(nursery, None)


@pytest.fixture(scope="session")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def client_tls(certificate_authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    certificate_authority.configure_trust(context)
    return context


@pytest.fixture
async def https_server(nursery: trio.Nursery, certificate_authority: trustme.CA) -> CountingServer:
    """Serves a certificate for ``assets.test`` only."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("assets.test").configure_cert(context)
    return await _start(nursery, context)


class MapResolver:
    """A resolver from a fixed table; a missing name fails like NXDOMAIN. Counts lookups."""

    def __init__(self, table: dict[str, list[IPAddress]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        self.lookups.append(host)
        try:
            return list(self.table[host])
        except KeyError:
            raise OSError(f"no such host {host}") from None
