"""OpenRouterClient requests: headers, keys, endpoints, bodies and lifecycle."""

from __future__ import annotations

import functools
import gc
import json

import pydantic
import pytest
import trio
import trio.testing

from pipe_service.openrouter.client import OpenRouterClient
from pipe_service.openrouter.client_config import UpstreamClientConfig
from pipe_service.openrouter.errors import UpstreamError, UpstreamErrorKind
from tests.upstream.conftest import Reply, ScriptedUpstream, make_config

K = UpstreamErrorKind
OK = Reply(body=b'{"data": {"label": "k"}}')


async def test_attribution_and_authorization_headers_are_sent(
    upstream: ScriptedUpstream,
) -> None:
    config = make_config(upstream.base_url, http_referer="https://chat.example", x_title="Chat")
    upstream.script(OK)
    async with OpenRouterClient(config) as client:
        with trio.fail_after(10):
            await client.get_key()
    headers = upstream.requests[0].headers
    assert headers["authorization"] == "Bearer sk-or-config-key"
    assert headers["http-referer"] == "https://chat.example"
    assert (headers["x-openrouter-title"], headers["x-title"]) == ("Chat", "Chat")


async def test_per_request_key_overrides_the_config_key(
    upstream: ScriptedUpstream, client: OpenRouterClient
) -> None:
    upstream.script(OK)
    with trio.fail_after(10):
        await client.get_key(api_key="sk-or-user-key")
    assert upstream.requests[0].headers["authorization"] == "Bearer sk-or-user-key"


async def test_missing_key_fails_locally_without_a_request(upstream: ScriptedUpstream) -> None:
    config = make_config(upstream.base_url, api_key=None)
    async with OpenRouterClient(config) as client:
        with pytest.raises(UpstreamError, match="no OpenRouter API key configured") as caught:
            await client.create_response({"model": "m"})
    assert (caught.value.kind, caught.value.local, caught.value.retryable) == (
        K.UNAUTHORIZED,
        True,
        False,
    )
    assert upstream.requests == []


async def test_models_are_listed_without_a_key(upstream: ScriptedUpstream) -> None:
    upstream.script(Reply(body=b'{"data": [{"id": "a/b"}]}'))
    async with OpenRouterClient(make_config(upstream.base_url, api_key=None)) as client:
        with trio.fail_after(10):
            models = await client.list_models()
    assert models == {"data": [{"id": "a/b"}]}
    assert (upstream.requests[0].target, "authorization" in upstream.requests[0].headers) == (
        "/api/v1/models",
        False,
    )


async def test_generation_lookup_sends_the_id(
    upstream: ScriptedUpstream, client: OpenRouterClient
) -> None:
    upstream.script(Reply(body=b'{"data": {"id": "gen-1", "total_cost": 0.001}}'))
    with trio.fail_after(10):
        generation = await client.get_generation("gen-1")
    assert generation["data"]["total_cost"] == 0.001
    assert (upstream.requests[0].method, upstream.requests[0].target) == (
        "GET",
        "/api/v1/generation?id=gen-1",
    )


async def test_create_response_posts_stream_false(
    upstream: ScriptedUpstream, client: OpenRouterClient
) -> None:
    upstream.script(Reply(body=b'{"id": "gen-2", "status": "completed"}'))
    with trio.fail_after(10):
        result = await client.create_response({"model": "m", "stream": True})
    assert result["status"] == "completed"
    assert json.loads(upstream.requests[0].body) == {"model": "m", "stream": False}


async def test_non_json_success_body_is_a_server_error(
    upstream: ScriptedUpstream, client: OpenRouterClient
) -> None:
    upstream.script(Reply(body=b"<html>login</html>"))
    with trio.fail_after(10), pytest.raises(UpstreamError, match="not a JSON object") as caught:
        await client.get_key()
    assert (caught.value.kind, caught.value.status) == (K.SERVER_ERROR, 200)


async def test_huge_error_body_is_read_only_up_to_the_limit(upstream: ScriptedUpstream) -> None:
    upstream.script(Reply(400, body=b"x" * 3_000_000))
    config = make_config(upstream.base_url, max_error_body_bytes=4096)
    async with OpenRouterClient(config) as client:
        with trio.fail_after(10), pytest.raises(UpstreamError) as caught:
            await client.get_key()
    assert caught.value.kind is K.BAD_REQUEST
    assert len(caught.value.message) < 300


async def test_requests_spread_over_shards(upstream: ScriptedUpstream) -> None:
    upstream.script(*[Reply(chunks=[b"x"], hang=True) for _ in range(3)])
    async with OpenRouterClient(make_config(upstream.base_url, shards=3)) as client:
        with trio.fail_after(10):
            async with (
                client.stream_responses({}),
                client.stream_responses({}),
                client.stream_responses({}),
            ):
                in_flight = client.statistics().shard_in_flight
    assert in_flight == (1, 1, 1)
    assert len({request.connection_id for request in upstream.requests}) == 3


async def test_keys_never_appear_in_logs(
    upstream: ScriptedUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    upstream.script(Reply(401, body=b'{"error": {"code": 401, "message": "User not found."}}'))
    async with OpenRouterClient(make_config(upstream.base_url)) as client:
        with trio.fail_after(10), pytest.raises(UpstreamError):
            await client.create_response({"model": "m", "input": "secret prompt"})
    assert caplog.records
    assert "sk-or-config-key" not in caplog.text
    assert "secret prompt" not in caplog.text


async def test_aclose_is_idempotent(upstream: ScriptedUpstream) -> None:
    client = OpenRouterClient(make_config(upstream.base_url))
    async with client:
        pass
    await client.aclose()
    with pytest.raises(RuntimeError, match="not open"):
        await client.get_key()


async def test_unopened_client_refuses_requests(upstream: ScriptedUpstream) -> None:
    client = OpenRouterClient(make_config(upstream.base_url))
    with pytest.raises(RuntimeError, match="async with OpenRouterClient"):
        await client.get_key()


@pytest.mark.parametrize(
    ("fields", "field_name"),
    [
        ({"base_url": "ftp://example.com"}, "base_url"),
        ({"max_connections_per_shard": 101}, "max_connections_per_shard"),
        ({"read_timeout_s": 0}, "read_timeout_s"),
        ({"max_keepalive_per_shard": 50, "max_connections_per_shard": 10}, "max_keepalive"),
        ({"unknown_field": 1}, "unknown_field"),
    ],
)
def test_invalid_config_names_the_field(fields: dict[str, object], field_name: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=field_name):
        UpstreamClientConfig.model_validate(fields)


def test_config_defaults_suit_long_reasoning_streams() -> None:
    config = UpstreamClientConfig()
    timeout = config.httpx_timeout()
    assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (5.0, 300.0, 30.0, 30.0)
    assert config.base_url == "https://openrouter.ai/api/v1"
    assert "sk-" not in repr(UpstreamClientConfig(api_key="sk-or-secret"))


async def test_a_request_cancelled_while_its_body_is_sent_leaves_no_generator_to_finalise(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    # A peer that accepts and never reads: the body write blocks until the cancel. Nothing of
    # the request path may be left for the garbage collector (a ResourceWarning under trio,
    # raised as an error by this suite whenever the collector happens to run).
    async def never_read(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    serve = functools.partial(trio.serve_tcp, never_read, 0, host="127.0.0.1")
    listeners = await nursery.start(serve)
    port = listeners[0].socket.getsockname()[1]
    payload = {"model": "openai/gpt-5", "input": "x" * 16_000_000}
    async with OpenRouterClient(make_config(f"http://127.0.0.1:{port}/api/v1")) as client:
        with trio.move_on_after(1) as scope:
            await client.create_response(payload)
        assert scope.cancelled_caught
        with trio.move_on_after(1) as scope:
            async with client.stream_responses(payload):
                pass
        assert scope.cancelled_caught
    del client
    gc.collect()
    await trio.testing.wait_all_tasks_blocked()
