"""The remote fetcher: pinned connections, re-validated redirects, size caps, retries.

Connection tests use a raw loopback server (``tests/fetch/conftest.py``) that the test
allowlists (``trusted_hosts``); retry tests use an in-memory transport on virtual time.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Callable

import httpcore
import httpx
import pytest
import trio

from pipe_service.fetch.fetcher import FetchError, FetchLimits, RemoteFetcher
from pipe_service.fetch.pinned_transport import PinnedTransport
from pipe_service.fetch.ssrf_guard import UnsafeUrlError, UrlPolicy, ValidatedTarget
from tests.fetch.conftest import CountingServer, MapResolver, response

LOOPBACK = ipaddress.ip_address("127.0.0.1")
PUBLIC = ipaddress.ip_address("93.184.216.34")


def _loopback_fetcher(
    server: CountingServer,
    *,
    max_bytes: int = 1 << 20,
    resolver: MapResolver | None = None,
    **limits: float,
) -> RemoteFetcher:
    entry = f"127.0.0.1:{server.port}"
    return RemoteFetcher(
        FetchLimits(max_bytes=max_bytes, max_retries=0, **limits),  # type: ignore[arg-type]
        UrlPolicy(http_hosts=frozenset({entry}), trusted_hosts=frozenset({entry})),
        resolver or MapResolver({}),
    )


@pytest.mark.trio
async def test_an_allowlisted_loopback_url_is_fetched(http_server: CountingServer) -> None:
    http_server.routes["/cat.png"] = response(
        200, b"\x89PNG\r\n\x1a\nrest", {"Content-Type": "image/png; charset=x"}
    )
    with trio.fail_after(10):
        body = await _loopback_fetcher(http_server).fetch(http_server.url("/cat.png"))
    assert body.data == b"\x89PNG\r\n\x1a\nrest"
    assert body.content_type == "image/png"
    assert http_server.accepts == 1


async def test_https_is_pinned_with_sni_and_the_certificate_checked(
    https_server: CountingServer, client_tls: ssl.SSLContext
) -> None:
    https_server.routes["/a"] = response(200, b"secure")
    resolver = MapResolver({"assets.test": [LOOPBACK]})
    fetcher = RemoteFetcher(
        FetchLimits(max_bytes=1024, max_retries=0),
        UrlPolicy(trusted_hosts=frozenset({"assets.test"})),
        resolver,
        transport_factory=lambda target, budget: PinnedTransport(
            target, ssl_context=client_tls, read_budget=budget
        ),
    )
    with trio.fail_after(10):
        body = await fetcher.fetch(f"https://assets.test:{https_server.port}/a")
    assert body.data == b"secure"


async def test_a_certificate_for_another_name_fails_the_pinned_connection(
    https_server: CountingServer, client_tls: ssl.SSLContext
) -> None:
    https_server.routes["/a"] = response(200, b"secure")
    resolver = MapResolver({"other.test": [LOOPBACK]})
    fetcher = RemoteFetcher(
        FetchLimits(max_bytes=1024, max_retries=0),
        UrlPolicy(trusted_hosts=frozenset({"other.test"})),
        resolver,
        transport_factory=lambda target, budget: PinnedTransport(
            target, ssl_context=client_tls, read_budget=budget
        ),
    )
    with trio.fail_after(10), pytest.raises(FetchError) as failed:
        await fetcher.fetch(f"https://other.test:{https_server.port}/a")
    assert failed.value.reason == "certificate"
    assert "other.test" in failed.value.message
    assert https_server.paths == []


@pytest.mark.parametrize(
    "location",
    [
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.7/",
        "http://public.example/",
        "https://[::1]:{port}/",
        "https://2130706433:{port}/",
    ],
)
async def test_a_redirect_into_refused_space_is_refused_before_connecting(
    http_server: CountingServer, location: str
) -> None:
    http_server.routes["/start"] = response(
        302, b"", {"Location": location.format(port=http_server.port)}
    )
    fetcher = _loopback_fetcher(http_server, resolver=MapResolver({"public.example": [PUBLIC]}))
    with trio.fail_after(10), pytest.raises(UnsafeUrlError):
        await fetcher.fetch(http_server.url("/start"))
    assert http_server.accepts == 1
    assert http_server.paths == ["/start"]


async def test_an_allowed_redirect_is_followed_and_revalidated(
    http_server: CountingServer,
) -> None:
    http_server.routes["/start"] = response(302, b"", {"Location": "/final"})
    http_server.routes["/final"] = response(200, b"done")
    with trio.fail_after(10):
        body = await _loopback_fetcher(http_server).fetch(http_server.url("/start"))
    assert body.data == b"done"
    assert body.url.endswith("/final")
    assert http_server.paths == ["/start", "/final"]


async def test_a_redirect_loop_stops_at_the_redirect_limit(http_server: CountingServer) -> None:
    http_server.routes["/loop"] = response(302, b"", {"Location": "/loop"})
    fetcher = _loopback_fetcher(http_server, max_redirects=3)
    with trio.fail_after(10), pytest.raises(FetchError) as failed:
        await fetcher.fetch(http_server.url("/loop"))
    assert failed.value.reason == "too_many_redirects"
    assert http_server.paths == ["/loop"] * 4


async def test_a_declared_length_over_the_cap_is_refused(http_server: CountingServer) -> None:
    http_server.routes["/big"] = response(200, b"x" * 2000)
    fetcher = _loopback_fetcher(http_server, max_bytes=1000)
    with trio.fail_after(10), pytest.raises(FetchError) as failed:
        await fetcher.fetch(http_server.url("/big"))
    assert failed.value.reason == "too_large"
    assert "declares 2000" in failed.value.message


async def test_a_server_lying_about_content_length_is_cut_at_the_cap(
    http_server: CountingServer,
) -> None:
    # Declares 10 bytes but frames the body as chunked and keeps sending: the running
    # count, not the header, decides.
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n"
    )
    chunk = b"1000\r\n" + b"y" * 4096 + b"\r\n"
    http_server.routes["/liar"] = [head] + [chunk] * 64 + [b"0\r\n\r\n"]
    fetcher = _loopback_fetcher(http_server, max_bytes=10_000)
    with trio.fail_after(10), pytest.raises(FetchError) as failed:
        await fetcher.fetch(http_server.url("/liar"))
    assert failed.value.reason == "too_large"
    assert "exceeds 10000" in failed.value.message


async def test_a_body_without_content_length_is_cut_at_the_cap(
    http_server: CountingServer,
) -> None:
    head = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
    http_server.routes["/endless"] = [head] + [b"z" * 4096] * 64
    fetcher = _loopback_fetcher(http_server, max_bytes=10_000)
    with trio.fail_after(10), pytest.raises(FetchError) as failed:
        await fetcher.fetch(http_server.url("/endless"))
    assert failed.value.reason == "too_large"


async def test_an_understated_content_length_never_returns_more_than_the_cap(
    http_server: CountingServer,
) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\nConnection: close\r\n\r\n"
    http_server.routes["/short-claim"] = [head, b"a" * 500, b"b" * 5000]
    fetcher = _loopback_fetcher(http_server, max_bytes=1000)
    with trio.fail_after(10):
        body = await fetcher.fetch(http_server.url("/short-claim"))
    assert body.data == b"a" * 500


async def test_a_compressed_body_is_refused(http_server: CountingServer) -> None:
    http_server.routes["/gz"] = response(200, b"\x1f\x8b...", {"Content-Encoding": "gzip"})
    with trio.fail_after(10), pytest.raises(FetchError) as failed:
        await _loopback_fetcher(http_server).fetch(http_server.url("/gz"))
    assert failed.value.reason == "encoded_body"


class _RebindingResolver:
    """Answers a public address first, loopback on every later lookup (DNS rebinding)."""

    def __init__(self) -> None:
        self.lookups = 0

    async def resolve(self, host: str, port: int) -> list[ipaddress.IPv4Address]:
        self.lookups += 1
        return [PUBLIC] if self.lookups == 1 else [LOOPBACK]


class _RecordingBackend(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self.connects: list[tuple[str, int]] = []

    async def connect_tcp(  # type: ignore[override]
        self, host: str, port: int, *args: object, **kwargs: object
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append((host, port))
        raise httpcore.ConnectError("recorded, not connected")


async def test_a_rebinding_resolver_cannot_move_the_connection(
    http_server: CountingServer,
) -> None:
    backend = _RecordingBackend()
    resolver = _RebindingResolver()
    fetcher = RemoteFetcher(
        FetchLimits(max_bytes=1024, max_retries=0),
        UrlPolicy(),
        resolver,
        transport_factory=lambda target, budget: PinnedTransport(target, backend=backend),
    )
    with trio.fail_after(10), pytest.raises(FetchError):
        await fetcher.fetch(f"https://rebind.example:{http_server.port}/x")
    assert resolver.lookups == 1
    assert backend.connects == [(str(PUBLIC), http_server.port)]
    assert http_server.accepts == 0


async def test_the_pinned_backend_refuses_a_host_it_did_not_validate() -> None:
    backend = _RecordingBackend()
    target = ValidatedTarget(
        url=httpx.URL("https://good.example/"),
        host="good.example",
        port=443,
        address=PUBLIC,
        addresses=(PUBLIC,),
    )
    async with httpx.AsyncClient(transport=PinnedTransport(target, backend=backend)) as client:
        with pytest.raises(httpx.ConnectError, match="unvalidated host"):
            await client.get("https://evil.example/")
    assert backend.connects == []


# -- retries, on virtual time --------------------------------------------------------------


def _scripted(
    statuses: list[int], calls: list[float]
) -> Callable[[ValidatedTarget, int], httpx.MockTransport]:
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(trio.current_time())
        status = statuses[min(len(calls) - 1, len(statuses) - 1)]
        return httpx.Response(status, content=b"ok" if status == 200 else b"")

    return lambda target, budget: httpx.MockTransport(handler)


def _retrying_fetcher(statuses: list[int], calls: list[float], **limits: float) -> RemoteFetcher:
    settings = {"max_bytes": 1024, "max_retries": 3, "retry_initial_s": 2.0, **limits}
    return RemoteFetcher(
        FetchLimits(**settings),  # type: ignore[arg-type]
        UrlPolicy(),
        MapResolver({"public.example": [PUBLIC]}),
        transport_factory=_scripted(statuses, calls),
    )


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 425, 429])
async def test_retryable_statuses_are_retried_with_exponential_backoff(
    status: int, autojump_clock: trio.testing.MockClock
) -> None:
    calls: list[float] = []
    start = trio.current_time()
    body = await _retrying_fetcher([status, status, 200], calls).fetch("https://public.example/")
    assert body.data == b"ok"
    assert [round(at - start, 6) for at in calls] == [0.0, 2.0, 6.0]


async def test_a_client_error_is_not_retried(autojump_clock: trio.testing.MockClock) -> None:
    calls: list[float] = []
    with pytest.raises(FetchError) as failed:
        await _retrying_fetcher([404], calls).fetch("https://public.example/")
    assert failed.value.reason == "http_404"
    assert len(calls) == 1


async def test_retries_stop_after_max_retries(autojump_clock: trio.testing.MockClock) -> None:
    calls: list[float] = []
    with pytest.raises(FetchError) as failed:
        await _retrying_fetcher([503], calls).fetch("https://public.example/")
    assert failed.value.reason == "http_503"
    assert "after 4 tries" in failed.value.message
    assert len(calls) == 4


async def test_retries_stop_when_the_time_budget_is_spent(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls: list[float] = []
    start = trio.current_time()
    fetcher = _retrying_fetcher([503], calls, max_retries=10, retry_budget_s=10.0)
    with pytest.raises(FetchError, match="retry budget"):
        await fetcher.fetch("https://public.example/")
    # Waits 2 then 4 (at 6 s); the next wait of 8 would end past the 10 s budget.
    assert [round(at - start, 6) for at in calls] == [0.0, 2.0, 6.0]


async def test_retry_after_lengthens_the_backoff(autojump_clock: trio.testing.MockClock) -> None:
    calls: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(trio.current_time())
        if len(calls) == 1:
            return httpx.Response(429, headers={"Retry-After": "7"})
        return httpx.Response(200, content=b"ok")

    start = trio.current_time()
    fetcher = RemoteFetcher(
        FetchLimits(max_bytes=1024, retry_initial_s=1.0),
        UrlPolicy(),
        MapResolver({"public.example": [PUBLIC]}),
        transport_factory=lambda target, budget: httpx.MockTransport(handler),
    )
    await fetcher.fetch("https://public.example/")
    assert [round(at - start, 6) for at in calls] == [0.0, 7.0]


async def test_a_silent_server_times_out_per_attempt(
    autojump_clock: trio.testing.MockClock,
) -> None:
    attempts: list[float] = []

    async def stall(request: httpx.Request) -> httpx.Response:
        attempts.append(trio.current_time())
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    start = trio.current_time()
    fetcher = RemoteFetcher(
        FetchLimits(max_bytes=1024, max_retries=1, retry_initial_s=1.0, attempt_timeout_s=5.0),
        UrlPolicy(),
        MapResolver({"public.example": [PUBLIC]}),
        transport_factory=lambda target, budget: httpx.MockTransport(stall),
    )
    with pytest.raises(FetchError) as failed:
        await fetcher.fetch("https://public.example/")
    assert failed.value.reason == "timeout"
    assert [round(at - start, 6) for at in attempts] == [0.0, 6.0]
    assert trio.current_time() - start == pytest.approx(11.0)


async def test_concurrent_fetches_are_bounded_by_the_fetcher_limit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    running = 0
    peak = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await trio.sleep(1)
        running -= 1
        return httpx.Response(200, content=b"ok")

    fetcher = RemoteFetcher(
        FetchLimits(max_bytes=1024, concurrency=2),
        UrlPolicy(),
        MapResolver({"public.example": [PUBLIC]}),
        transport_factory=lambda target, budget: httpx.MockTransport(slow),
    )
    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(fetcher.fetch, "https://public.example/")
    assert peak == 2
    assert fetcher.statistics().fetched == 5
