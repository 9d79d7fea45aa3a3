"""Streams after the 200: raw bytes, no retries, stalls, drops and cancellation."""

from __future__ import annotations

import gc

import pytest
import trio

from pipe_service.openrouter.client import OpenRouterClient
from pipe_service.openrouter.errors import UpstreamError, UpstreamErrorKind
from tests.upstream.conftest import Reply, ScriptedUpstream, make_config

K = UpstreamErrorKind
PAYLOAD = {"model": "openai/gpt-5", "input": "hi"}
FIRST = b"event: response.created\ndata: {}\n\n"


async def _collect(
    client: OpenRouterClient, into: list[bytes], marks: list[float] | None = None
) -> None:
    """Stream PAYLOAD into ``into``, noting the trio time after each chunk in ``marks``."""
    async with client.stream_responses(PAYLOAD) as stream:
        async for chunk in stream.aiter_bytes():
            into.append(chunk)
            if marks is not None:
                marks.append(trio.current_time())


async def test_stream_exposes_status_generation_id_and_raw_bytes(
    upstream: ScriptedUpstream, client: OpenRouterClient
) -> None:
    upstream.script(
        Reply(headers={"X-Generation-Id": "gen-123"}, chunks=[FIRST, b"data: [DONE]\n\n"])
    )
    with trio.fail_after(10):
        async with client.stream_responses(PAYLOAD) as stream:
            chunks = [chunk async for chunk in stream.aiter_bytes()]
    assert (stream.status, stream.generation_id) == (200, "gen-123")
    assert b"".join(chunks) == FIRST + b"data: [DONE]\n\n"
    assert stream.bytes_received == len(FIRST) + 14


async def test_stream_request_sets_stream_true_and_accepts_sse(
    upstream: ScriptedUpstream, client: OpenRouterClient
) -> None:
    upstream.script(Reply(chunks=[FIRST]))
    with trio.fail_after(10):
        async with client.stream_responses({**PAYLOAD, "stream": False}) as stream:
            assert [c async for c in stream.aiter_bytes()] == [FIRST]
    request = upstream.requests[0]
    assert (request.method, request.target) == ("POST", "/api/v1/responses")
    assert request.headers["accept"] == "text/event-stream"
    assert b'"stream":true' in request.body


async def test_drop_after_200_is_a_network_error_without_retry(
    upstream: ScriptedUpstream, client: OpenRouterClient, autojump_clock: trio.testing.MockClock
) -> None:
    upstream.script(Reply(chunks=[FIRST], drop=True), Reply(chunks=[FIRST]))
    received: list[bytes] = []
    with trio.fail_after(10), pytest.raises(UpstreamError) as caught:
        await _collect(client, received)
    assert received == [FIRST]
    assert caught.value.kind is K.NETWORK
    assert len(upstream.requests) == 1
    assert client.statistics().errors_by_kind == {"network": 1}


async def test_a_streamed_body_has_no_per_read_timeout_its_consumer_bounds_silence(
    upstream: ScriptedUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    # Silence in a stream is chat.upstream_relay's to bound (one deadline per stream, with a
    # waiting status first); the client must not cut it at read_timeout_s on every read.
    upstream.script(Reply(chunks=[FIRST, 10_000.0, b"late"]))
    received: list[bytes] = []
    async with OpenRouterClient(make_config(upstream.base_url, read_timeout_s=300)) as client:
        with trio.fail_after(20_000):
            await _collect(client, received)
    assert received == [FIRST, b"late"]


async def test_no_headers_within_read_timeout_is_a_timeout_not_retried(
    upstream: ScriptedUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    upstream.script(Reply(delay_before_headers=10_000.0, chunks=[FIRST]), Reply(chunks=[FIRST]))
    async with OpenRouterClient(make_config(upstream.base_url, read_timeout_s=120)) as client:
        start = trio.current_time()
        with trio.fail_after(1000), pytest.raises(UpstreamError) as caught:
            async with client.stream_responses(PAYLOAD):
                pass
    assert (caught.value.kind, trio.current_time() - start) == (K.TIMEOUT, 120.0)
    assert len(upstream.requests) == 1


async def test_cancelled_stream_closes_the_upstream_connection(
    upstream: ScriptedUpstream, client: OpenRouterClient
) -> None:
    upstream.script(Reply(chunks=[FIRST], hang=True))
    with trio.move_on_after(10) as scope:
        async with client.stream_responses(PAYLOAD) as stream:
            chunks = stream.aiter_bytes()
            assert await chunks.__anext__() == FIRST
            scope.cancel()
            await chunks.__anext__()
    assert scope.cancelled_caught
    with trio.fail_after(10):
        await upstream.disconnected.wait()
    stats = client.statistics()
    assert (stats.open_streams, sum(stats.shard_in_flight)) == (0, 0)


async def test_leaving_a_stream_early_closes_its_connection(
    upstream: ScriptedUpstream, client: OpenRouterClient
) -> None:
    upstream.script(Reply(chunks=[FIRST], hang=True))
    with trio.fail_after(10):
        async with client.stream_responses(PAYLOAD) as stream:
            assert await stream.aiter_bytes().__anext__() == FIRST
        await upstream.disconnected.wait()
    assert upstream.client_disconnects == 1


async def test_open_streams_are_counted_on_their_shard(
    upstream: ScriptedUpstream, client: OpenRouterClient
) -> None:
    upstream.script(Reply(chunks=[FIRST], hang=True), Reply(chunks=[FIRST], hang=True))
    with trio.fail_after(10):
        async with client.stream_responses(PAYLOAD), client.stream_responses(PAYLOAD):
            stats = client.statistics()
    assert (stats.open_streams, stats.shard_in_flight) == (2, (1, 1))


async def test_aiter_bytes_may_be_called_once(
    upstream: ScriptedUpstream, client: OpenRouterClient
) -> None:
    upstream.script(Reply(chunks=[FIRST]))
    with trio.fail_after(10):
        async with client.stream_responses(PAYLOAD) as stream:
            stream.aiter_bytes()
            with pytest.raises(RuntimeError, match="once"):
                stream.aiter_bytes()


async def test_abandoned_stream_leaves_no_suspended_generators(
    upstream: ScriptedUpstream, client: OpenRouterClient
) -> None:
    # filterwarnings=error turns trio's "async generator was garbage collected"
    # ResourceWarning into a failure, so collecting here proves the unwinding.
    upstream.script(Reply(chunks=[FIRST], hang=True))
    with trio.fail_after(10):
        async with client.stream_responses(PAYLOAD) as stream:
            chunks = stream.aiter_bytes()
            assert await chunks.__anext__() == FIRST
    del stream, chunks
    gc.collect()
    await trio.lowlevel.checkpoint()
    assert client.statistics().open_streams == 0
