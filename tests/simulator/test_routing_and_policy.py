"""Simulator routing: variants, presets, provider endpoints, ZDR, signatures, prompt cache."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio

from pipe_service.simulator.scenarios.reasoning import signature_for
from tests.simulator.conftest import StartSimulator, read_sse

ENDPOINT_KEYS = {
    "name", "model_id", "model_name", "context_length", "pricing", "provider_name", "tag",
    "quantization", "max_completion_tokens", "max_prompt_tokens", "supported_parameters",
    "status", "uptime_last_30m", "supports_implicit_caching",
}  # fmt: skip


async def answer(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    with trio.fail_after(10):
        return await client.post("/responses", json={"input": "hello", **body})


async def test_a_variant_id_is_served_by_its_base_model_and_named_in_the_reply(
    client: httpx.AsyncClient,
) -> None:
    reply = await answer(client, model="sim/text:nitro")
    assert reply.status_code == 200
    assert reply.json()["model"] == "sim/text:nitro"
    assert reply.json()["output"][-1]["content"][0]["text"].startswith("You said: hello")


@pytest.mark.parametrize("variant", ["nitro", "floor", "exacto", "online", "thinking", "extended"])
async def test_every_openrouter_variant_suffix_is_served(
    client: httpx.AsyncClient, variant: str
) -> None:
    reply = await answer(client, model=f"sim/reasoning:{variant}")
    assert reply.status_code == 200
    assert reply.json()["model"] == f"sim/reasoning:{variant}"


async def test_an_unknown_variant_suffix_is_an_unknown_model(client: httpx.AsyncClient) -> None:
    reply = await answer(client, model="sim/text:turbo-max")
    assert reply.status_code == 400
    assert reply.json()["error"]["availability"]["code"] == "model_not_found"


async def test_the_online_variant_searches_the_web(client: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        stream = await read_sse(client, {"model": "sim/web-citations:online", "input": "news"})
    completed = stream.terminal["response"]
    assert completed["usage"]["server_tool_use_details"]["web_search_requests"] == 1


async def test_a_preset_resolves_to_its_configured_model(start_simulator: StartSimulator) -> None:
    root = await start_simulator(presets={"writer": "sim/reasoning"})
    headers = {"Authorization": "Bearer sk-or-test"}
    async with httpx.AsyncClient(base_url=f"{root}/api/v1", headers=headers) as client:
        known = await answer(client, model="@preset/writer")
        unknown = await answer(client, model="@preset/nope")
    assert known.status_code == 200
    assert known.json()["model"] == "sim/reasoning"
    assert unknown.status_code == 400


async def test_model_endpoints_lists_public_endpoints_with_provider_tags(
    client: httpx.AsyncClient,
) -> None:
    with trio.fail_after(10):
        reply = await client.get("/models/sim/text/endpoints")
    data = reply.json()["data"]
    assert data["id"] == "sim/text"
    assert all(set(endpoint) == ENDPOINT_KEYS for endpoint in data["endpoints"])
    assert [e["tag"] for e in data["endpoints"]] == ["simulator", "sim-cloud/fp8"]
    assert data["endpoints"][0]["model_id"] == "sim/text-20260101"


async def test_model_endpoints_of_an_unknown_model_is_404(client: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        reply = await client.get("/models/nobody/nothing/endpoints")
    assert reply.status_code == 404


async def test_zdr_endpoints_list_paid_models_but_never_free_ones(
    client: httpx.AsyncClient,
) -> None:
    with trio.fail_after(10):
        data = (await client.get("/endpoints/zdr")).json()["data"]
    assert all(set(endpoint) == ENDPOINT_KEYS for endpoint in data)
    names = {endpoint["model_name"] for endpoint in data}
    assert "Simulator: Text" in names
    assert "Simulator: Text (free)" not in names
    assert {endpoint["tag"] for endpoint in data} == {"simulator"}


async def test_zdr_routing_refuses_a_model_without_a_zdr_endpoint(
    client: httpx.AsyncClient,
) -> None:
    refused = await answer(client, model="sim/text:free", provider={"zdr": True})
    served = await answer(client, model="sim/text", provider={"zdr": True})
    assert refused.status_code == 404
    assert "Zero data retention" in refused.json()["error"]["message"]
    assert served.status_code == 200


async def test_provider_only_and_ignore_can_leave_no_endpoint(client: httpx.AsyncClient) -> None:
    only_unknown = await answer(client, model="sim/text", provider={"only": ["nowhere"]})
    ignore_all = await answer(
        client, model="sim/text", provider={"ignore": ["simulator", "sim-cloud"]}
    )
    only_known = await answer(client, model="sim/text", provider={"only": ["sim-cloud"]})
    assert only_unknown.status_code == 404
    assert ignore_all.status_code == 404
    assert only_known.status_code == 200


def replayed_reasoning(signature: str | None) -> list[dict[str, Any]]:
    text = "I thought about it."
    return [
        {"role": "user", "content": "first"},
        {
            "type": "reasoning",
            "id": "rs_tmp_abc",
            "summary": [],
            "content": [{"type": "reasoning_text", "text": text}],
            "signature": signature,
            "format": "anthropic-claude-v1",
        },
        {"role": "user", "content": "second"},
    ]


async def test_replayed_reasoning_with_a_bad_signature_is_refused(
    client: httpx.AsyncClient,
) -> None:
    missing = await answer(client, model="sim/reasoning", input=replayed_reasoning(None))
    wrong = await answer(client, model="sim/reasoning", input=replayed_reasoning("Zm9v"))
    for reply in (missing, wrong):
        assert reply.status_code == 400
        assert "Invalid `signature`" in reply.json()["error"]["metadata"]["raw"]


async def test_replayed_reasoning_with_its_own_signature_is_accepted(
    client: httpx.AsyncClient,
) -> None:
    good = signature_for("I thought about it.")
    reply = await answer(client, model="sim/reasoning", input=replayed_reasoning(good))
    assert reply.status_code == 200


async def test_models_that_do_not_sign_reasoning_ignore_signatures(
    client: httpx.AsyncClient,
) -> None:
    reply = await answer(client, model="sim/text", input=replayed_reasoning(None))
    assert reply.status_code == 200


def cached_usage(reply: httpx.Response) -> tuple[int, int]:
    details = reply.json()["usage"]["input_tokens_details"]
    return details["cached_tokens"], details["cache_write_tokens"]


async def test_cache_control_writes_then_reads_the_prompt_for_the_same_session(
    client: httpx.AsyncClient,
) -> None:
    cache = {"type": "ephemeral", "ttl": "5m"}
    first = await answer(client, model="sim/text", session_id="s1", cache_control=cache)
    second = await answer(client, model="sim/text", session_id="s1", cache_control=cache)
    other = await answer(client, model="sim/text", session_id="s2", cache_control=cache)
    uncached = await answer(client, model="sim/text", session_id="s1")
    assert cached_usage(first)[0] == 0
    assert cached_usage(first)[1] > 0
    assert cached_usage(second)[0] == cached_usage(first)[1]
    assert cached_usage(other)[0] == 0
    assert cached_usage(uncached) == (0, 0)


async def test_the_zdr_list_needs_a_key(base_url: str) -> None:
    async with httpx.AsyncClient() as anonymous:
        with trio.fail_after(10):
            reply = await anonymous.get(f"{base_url}/api/v1/endpoints/zdr")
    assert reply.status_code == 401
