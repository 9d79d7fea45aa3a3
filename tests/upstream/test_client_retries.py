"""OpenRouterClient retries before the 200, on a real socket and virtual time."""

from __future__ import annotations

import json

import pytest
import trio

from pipe_service.openrouter.client import OpenRouterClient
from pipe_service.openrouter.errors import UpstreamError, UpstreamErrorKind
from tests.upstream.conftest import Reply, ScriptedUpstream, make_config

K = UpstreamErrorKind
PAYLOAD = {"model": "openai/gpt-5", "input": "hi"}
SSE = [b"event: response.completed\ndata: {}\n\n"]


def _error(status: int, message: str = "nope", **headers: str) -> Reply:
    body = json.dumps({"error": {"code": status, "message": message}}).encode()
    return Reply(status, dict(headers), body)


async def _drain(client: OpenRouterClient) -> list[bytes]:
    async with client.stream_responses(PAYLOAD) as stream:
        return [chunk async for chunk in stream.aiter_bytes()]


async def test_429_waits_exactly_retry_after(
    upstream: ScriptedUpstream, client: OpenRouterClient, autojump_clock: trio.testing.MockClock
) -> None:
    upstream.script(_error(429, **{"Retry-After": "7"}), Reply(chunks=list(SSE)))
    start = trio.current_time()
    with trio.fail_after(60):
        assert await _drain(client) == SSE
    assert trio.current_time() - start == 7.0
    assert [r.at for r in upstream.requests] == [start, start + 7.0]


async def test_retry_after_over_the_cap_is_surfaced_at_once(
    upstream: ScriptedUpstream, client: OpenRouterClient, autojump_clock: trio.testing.MockClock
) -> None:
    upstream.script(_error(429, "slow down", **{"Retry-After": "31"}), Reply(chunks=list(SSE)))
    start = trio.current_time()
    with trio.fail_after(60), pytest.raises(UpstreamError) as caught:
        await _drain(client)
    assert (caught.value.kind, caught.value.retry_after_s) == (K.RATE_LIMITED, 31.0)
    assert trio.current_time() == start
    assert len(upstream.requests) == 1


async def test_5xx_is_retried_with_backoff_then_surfaced(
    upstream: ScriptedUpstream, client: OpenRouterClient, autojump_clock: trio.testing.MockClock
) -> None:
    upstream.script(_error(502), _error(503), _error(529, "overloaded"))
    start = trio.current_time()
    with trio.fail_after(60), pytest.raises(UpstreamError) as caught:
        await _drain(client)
    assert (caught.value.kind, caught.value.status, caught.value.message) == (
        K.SERVER_ERROR,
        529,
        "overloaded",
    )
    assert trio.current_time() - start == 0.5 + 1.0
    stats = client.statistics()
    assert (stats.requests, stats.retries, stats.errors_by_kind) == (3, 2, {"server_error": 1})


async def test_5xx_then_success_returns_the_stream(
    upstream: ScriptedUpstream, client: OpenRouterClient, autojump_clock: trio.testing.MockClock
) -> None:
    upstream.script(_error(524), Reply(chunks=list(SSE)))
    with trio.fail_after(60):
        async with client.stream_responses(PAYLOAD) as stream:
            assert stream.attempts == 2


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, K.BAD_REQUEST),
        (401, K.UNAUTHORIZED),
        (402, K.PAYMENT_REQUIRED),
        (403, K.FORBIDDEN),
        (404, K.NOT_FOUND),
        (413, K.PAYLOAD_TOO_LARGE),
    ],
)
async def test_client_errors_are_not_retried(
    upstream: ScriptedUpstream,
    client: OpenRouterClient,
    autojump_clock: trio.testing.MockClock,
    status: int,
    kind: UpstreamErrorKind,
) -> None:
    upstream.script(_error(status), Reply(chunks=list(SSE)))
    with trio.fail_after(60), pytest.raises(UpstreamError) as caught:
        await _drain(client)
    assert (caught.value.kind, caught.value.status) == (kind, status)
    assert len(upstream.requests) == 1


async def test_availability_retryable_false_is_not_retried(
    upstream: ScriptedUpstream, client: OpenRouterClient, autojump_clock: trio.testing.MockClock
) -> None:
    body = {"error": {"message": "no provider", "availability": {"code": "x", "retryable": False}}}
    upstream.script(Reply(503, body=json.dumps(body).encode()), Reply(chunks=list(SSE)))
    with trio.fail_after(60), pytest.raises(UpstreamError):
        await _drain(client)
    assert len(upstream.requests) == 1


async def test_connect_errors_are_retried_then_surfaced(
    closed_port: int, autojump_clock: trio.testing.MockClock
) -> None:
    config = make_config(f"http://127.0.0.1:{closed_port}/api/v1", retry_max_attempts=3)
    start = trio.current_time()
    async with OpenRouterClient(config) as client:
        with trio.fail_after(60), pytest.raises(UpstreamError) as caught:
            await _drain(client)
        stats = client.statistics()
    assert (caught.value.kind, caught.value.before_send) == (K.NETWORK, True)
    assert trio.current_time() - start == 0.5 + 1.0
    assert (stats.requests, stats.retries) == (3, 2)


async def test_non_stream_calls_use_the_same_retry_policy(
    upstream: ScriptedUpstream, client: OpenRouterClient, autojump_clock: trio.testing.MockClock
) -> None:
    upstream.script(_error(429, **{"Retry-After": "3"}), Reply(body=b'{"data": []}'))
    start = trio.current_time()
    with trio.fail_after(60):
        assert await client.list_models() == {"data": []}
    assert trio.current_time() - start == 3.0


async def test_repeated_401s_latch_the_key(
    upstream: ScriptedUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    config = make_config(upstream.base_url, auth_latch_threshold=2, auth_latch_s=30.0)
    upstream.script(*[_error(401, "User not found.") for _ in range(3)])
    async with OpenRouterClient(config) as client:
        for _ in range(4):
            with trio.fail_after(60), pytest.raises(UpstreamError) as caught:
                await client.get_key()
            assert caught.value.kind is K.UNAUTHORIZED
        assert len(upstream.requests) == 2  # the last two failed fast, locally
        assert caught.value.local
        await trio.sleep(30)
        with trio.fail_after(60), pytest.raises(UpstreamError):
            await client.get_key()  # the probe reaches the server
        assert len(upstream.requests) == 3


async def test_a_pooled_connection_closed_by_the_server_is_retried_once_on_a_fresh_one(
    upstream: ScriptedUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    # The 502's keep-alive connection is reused for the retry, but the server closed it.
    upstream.script(_error(502), Reply(close_unanswered=True), Reply(chunks=list(SSE)))
    async with OpenRouterClient(make_config(upstream.base_url, shards=1)) as client:
        with trio.fail_after(60):
            assert await _drain(client) == SSE
    first, reused, fresh = upstream.requests
    assert reused.connection_id == first.connection_id
    assert fresh.connection_id != reused.connection_id
    assert fresh.at == reused.at  # at once: no backoff for a connection that never answered
    assert client.statistics().errors_by_kind == {}
    assert client.statistics().retries == 2


async def test_a_second_closed_connection_is_a_network_error(
    upstream: ScriptedUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    upstream.script(Reply(close_unanswered=True), Reply(close_unanswered=True))
    async with OpenRouterClient(make_config(upstream.base_url, retry_max_attempts=1)) as client:
        with trio.fail_after(60), pytest.raises(UpstreamError) as caught:
            await _drain(client)
    assert caught.value.kind is K.NETWORK
    assert len(upstream.requests) == 2
