"""Routing and cost controls end to end: sidecar + simulator over the shim protocol.

Each test runs a real sidecar whose upstream is the built-in simulator and reads back what the
simulator received (``GET /_sim/requests``), so it checks the bytes that left the gateway.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from actors import open_supervisor
from pipe_service.chat import turn
from pipe_service.service import open_database, start_service
from pipe_service.transform.session_affinity import affinity_key
from tests.pipe_protocol.conftest import chat_body, open_shim, request_frame, run_request
from tests.service.conftest import Sidecar, make_settings


async def sim_requests(sidecar: Sidecar) -> list[dict[str, Any]]:
    async with sidecar.simulator_client() as client:
        with trio.fail_after(10):
            records: list[dict[str, Any]] = (await client.get("/_sim/requests")).json()["data"]
    return records


@pytest.fixture
def open_sidecar(tmp_path: Path) -> Any:
    """``async with open_sidecar(**settings) as sidecar``: a sidecar with its own settings."""
    counter = iter(range(100))

    @asynccontextmanager
    async def opener(**overrides: Any) -> AsyncIterator[Sidecar]:
        directory = tmp_path / f"s{next(counter)}"
        settings = make_settings(directory, **overrides)
        async with open_database(settings) as database, open_supervisor(grace_s=5) as supervisor:
            running = await start_service(supervisor, settings, database)
            try:
                yield Sidecar(settings, running, supervisor)
            finally:
                supervisor.request_shutdown("test finished")

    return opener


# -- endpoint routing ---------------------------------------------------------------------------


async def test_a_model_refused_on_responses_falls_back_to_chat_with_one_answer(
    sidecar: Sidecar,
) -> None:
    session = await run_request(sidecar, request_frame("sim/chat-only", stream=True))
    assert session.of_type("error") == []
    assert session.text.count("You said: hello pipe.") == 1
    assert session.of_type("done")[0]["usage"]["prompt_tokens"] > 0
    paths = [record["path"] for record in await sim_requests(sidecar)]
    assert paths == ["/api/v1/responses", "/api/v1/chat/completions"]
    async with sidecar.uds_client() as client:
        with trio.fail_after(10):
            routing = (await client.get("/status")).json()["routing"]
    assert routing == {"chat_completions_runs": 1, "fallbacks_to_chat": 1, "reasoning_retries": 0}


async def test_the_chat_fallback_also_serves_whole_answers(sidecar: Sidecar) -> None:
    session = await run_request(sidecar, request_frame("sim/chat-only", stream=False))
    done = session.of_type("done")[0]
    assert done["content"].count("You said: hello pipe.") == 1


async def test_models_listed_for_chat_completions_never_call_responses(
    open_sidecar: Any,
) -> None:
    async with open_sidecar(chat={"chat_completions_models": ["sim/text*"]}) as sidecar:
        session = await run_request(sidecar, request_frame("sim/text", stream=True))
        records = await sim_requests(sidecar)
    assert session.text.startswith("You said: hello pipe.")
    assert [record["path"] for record in records] == ["/api/v1/chat/completions"]
    assert records[0]["body"]["messages"][-1] == {
        "role": "user",
        "content": [{"type": "text", "text": "hello pipe"}],
    }


async def test_a_model_forced_to_responses_gets_the_error_instead_of_a_fallback(
    open_sidecar: Any,
) -> None:
    async with open_sidecar(chat={"responses_models": ["sim/chat-only"]}) as sidecar:
        session = await run_request(sidecar, request_frame("sim/chat-only"))
        records = await sim_requests(sidecar)
    assert session.last["type"] == "error"
    assert [record["path"] for record in records] == ["/api/v1/responses"]


async def test_the_tool_loop_runs_on_the_chat_endpoint(open_sidecar: Any) -> None:
    spec = {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    request = request_frame("sim/tool-call", tools=[{"name": "get_weather", "spec": spec}])
    async with open_sidecar(chat={"default_endpoint": "chat_completions"}) as sidecar:
        with trio.fail_after(10):
            async with open_shim(sidecar) as shim:
                await shim.hello()
                await shim.send(request)
                call = await shim.receive_until("tool_call")
                await shim.send(
                    {"type": "tool_result", "call_id": call["call_id"], "output": "18C"}
                )
                session = await shim.until_closed()
        records = await sim_requests(sidecar)
    assert call["name"] == "get_weather"
    assert "Tool results: 18C" in session.text
    assert session.last["finish_reason"] == "stop"
    assert {record["path"] for record in records} == {"/api/v1/chat/completions"}
    second = records[1]["body"]["messages"]
    assert second[-2]["tool_calls"][0]["id"] == call["call_id"]
    assert second[-1] == {"role": "tool", "tool_call_id": call["call_id"], "content": "18C"}


# -- variants ----------------------------------------------------------------------------------


async def test_a_configured_variant_reaches_the_simulator_unchanged(open_sidecar: Any) -> None:
    settings = {"models": {"variant_models": ["sim/text:nitro", "@preset/sim-default=sim/text"]}}
    async with open_sidecar(**settings) as sidecar:
        async with sidecar.uds_client() as client:
            with trio.fail_after(10):
                listed = (await client.get("/v1/models")).json()["data"]
        variant = await run_request(sidecar, request_frame("sim/text:nitro"))
        preset = await run_request(sidecar, request_frame("@preset/sim-default"))
        records = await sim_requests(sidecar)
    ids = [row["id"] for row in listed]
    assert ids[ids.index("sim/text") + 1 : ids.index("sim/text") + 3] == [
        "sim/text:nitro",
        "@preset/sim-default",
    ]
    nitro = next(row for row in listed if row["id"] == "sim/text:nitro")
    assert nitro["name"] == "Simulator: Text (nitro)"
    assert nitro["variant_of"] == "sim/text"
    assert nitro["owned_by"] == "sim"
    assert variant.text.startswith("You said: hello pipe.")
    assert preset.text.startswith("You said: hello pipe.")
    assert [record["model"] for record in records] == ["sim/text:nitro", "@preset/sim-default"]


async def test_an_unconfigured_variant_is_not_offered(sidecar: Sidecar) -> None:
    session = await run_request(sidecar, request_frame("sim/text:nitro"))
    assert session.last["type"] == "error"


# -- ZDR ---------------------------------------------------------------------------------------


async def test_zdr_only_catalog_hides_models_without_a_zdr_endpoint(open_sidecar: Any) -> None:
    async with open_sidecar(models={"zdr_only": True}) as sidecar, sidecar.uds_client() as client:
        with trio.fail_after(10):
            ids = {row["id"] for row in (await client.get("/v1/models")).json()["data"]}
    assert "sim/text" in ids
    assert "sim/text:free" not in ids


async def test_enforced_zdr_is_sent_and_refuses_a_model_without_zdr(open_sidecar: Any) -> None:
    async with open_sidecar(chat={"zdr_enforce": True}) as sidecar:
        served = await run_request(sidecar, request_frame("sim/text"))
        refused = await run_request(sidecar, request_frame("sim/text:free"))
        records = await sim_requests(sidecar)
    assert served.text.startswith("You said")
    assert records[0]["body"]["provider"] == {"zdr": True}
    assert refused.last["type"] == "error"
    assert "Zero data retention" in refused.last["message"]


async def test_a_user_zdr_request_is_sent_when_allowed(sidecar: Sidecar) -> None:
    await run_request(sidecar, request_frame(user_valves={"REQUEST_ZDR": True}))
    records = await sim_requests(sidecar)
    assert records[0]["body"]["provider"] == {"zdr": True}


async def test_a_user_zdr_request_is_refused_when_the_admin_disallows_it(
    open_sidecar: Any,
) -> None:
    async with open_sidecar(chat={"allow_user_zdr": False}) as sidecar:
        session = await run_request(sidecar, request_frame(user_valves={"REQUEST_ZDR": True}))
        records = await sim_requests(sidecar)
    assert session.last["type"] == "error"
    assert "REQUEST_ZDR" in session.last["message"]
    assert records == []


# -- provider routing per model ----------------------------------------------------------------

ROUTED = {
    "chat": {
        "model_routing": [
            {
                "models": ["sim/text"],
                "routing": {"sort": "throughput", "preferred_max_latency": 2},
                "user_override": True,
            },
            {"models": ["sim/reasoning"], "routing": {"order": ["simulator"]}},
        ]
    }
}


async def test_admin_routing_applies_to_the_listed_model_only(open_sidecar: Any) -> None:
    async with open_sidecar(**ROUTED) as sidecar:
        await run_request(sidecar, request_frame("sim/text"))
        await run_request(sidecar, request_frame("sim/tool-call"))
        records = await sim_requests(sidecar)
    assert records[0]["body"]["provider"] == {"sort": "throughput", "preferred_max_latency": 2.0}
    assert "provider" not in records[1]["body"]


async def test_a_user_may_route_where_the_admin_allows_it(open_sidecar: Any) -> None:
    user = {"PROVIDER_ROUTING": '{"only": ["sim-cloud"], "sort": "price"}'}
    async with open_sidecar(**ROUTED) as sidecar:
        session = await run_request(sidecar, request_frame("sim/text", user_valves=user))
        records = await sim_requests(sidecar)
    assert session.text.startswith("You said")
    assert records[0]["body"]["provider"] == {
        "only": ["sim-cloud"],
        "sort": "price",
        "preferred_max_latency": 2.0,
    }


async def test_routed_models_list_their_providers(open_sidecar: Any) -> None:
    async with open_sidecar(**ROUTED) as sidecar, sidecar.uds_client() as client:
        with trio.fail_after(10):
            listed = (await client.get("/v1/models")).json()["data"]
    by_id = {row["id"]: row for row in listed}
    assert by_id["sim/text"]["providers"] == ["simulator", "sim-cloud/fp8"]
    assert "providers" not in by_id["sim/tool-call"]


async def test_a_user_route_naming_an_unknown_provider_is_refused(open_sidecar: Any) -> None:
    user = {"PROVIDER_ROUTING": '{"only": ["nowhere"]}'}
    async with open_sidecar(**ROUTED) as sidecar:
        session = await run_request(sidecar, request_frame("sim/text", user_valves=user))
    assert session.last["type"] == "error"
    assert "PROVIDER_ROUTING.only" in session.last["message"]
    assert "simulator" in session.last["message"]


async def test_a_user_route_is_refused_where_the_admin_does_not_allow_it(
    open_sidecar: Any,
) -> None:
    user = {"PROVIDER_ROUTING": '{"order": ["simulator"]}'}
    async with open_sidecar(**ROUTED) as sidecar:
        session = await run_request(sidecar, request_frame("sim/reasoning", user_valves=user))
        records = await sim_requests(sidecar)
    assert session.last["type"] == "error"
    assert "PROVIDER_ROUTING" in session.last["message"]
    assert "user_override" in session.last["message"]
    assert records == []


async def test_custom_params_set_fallback_models_and_trace(sidecar: Sidecar) -> None:
    body = chat_body(model_fallback="sim/reasoning, sim/text", openrouter_trace={"trace_id": "t1"})
    await run_request(sidecar, request_frame("sim/error-429", body=body))
    records = await sim_requests(sidecar)
    assert records[0]["body"]["models"] == ["sim/reasoning", "sim/text"]
    assert records[0]["body"]["trace"] == {"trace_id": "t1"}


# -- prompt caching and affinity ---------------------------------------------------------------


def with_chat(model: str, chat_id: str, **fields: Any) -> dict[str, Any]:
    return request_frame(model, metadata={"chat_id": chat_id, "message_id": "m"}, **fields)


async def test_session_id_is_stable_within_a_chat_and_differs_between_chats(
    sidecar: Sidecar,
) -> None:
    for chat_id in ("chat-a", "chat-a", "chat-b"):
        await run_request(sidecar, with_chat("sim/text", chat_id))
    first, second, other = [record["body"]["session_id"] for record in await sim_requests(sidecar)]
    assert first == second
    assert first != other
    # The chat id never shows: "chat-" then the HMAC's hex (which may itself start with "a").
    assert "chat-a" not in first.removeprefix("chat-")
    secret_file = sidecar.settings.var_dir / "session-secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert first == affinity_key(secret_file.read_text().strip().encode(), "chat-a")


async def test_session_ids_survive_a_restart_on_the_same_var_dir(tmp_path: Path) -> None:
    keys = []
    for _ in range(2):
        settings = make_settings(tmp_path)
        async with open_database(settings) as database, open_supervisor(grace_s=5) as supervisor:
            running = await start_service(supervisor, settings, database)
            sidecar = Sidecar(settings, running, supervisor)
            await run_request(sidecar, with_chat("sim/text", "chat-a"))
            keys.append((await sim_requests(sidecar))[0]["body"]["session_id"])
            supervisor.request_shutdown("restart")
    assert keys[0] == keys[1]


CLAUDE_LIKE = {
    "id": "anthropic/claude-sim",
    "canonical_slug": "anthropic/claude-sim-20260101",
    "name": "Claude (simulated)",
    "created": 1767225600,
    "context_length": 200000,
    "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
    "pricing": {"prompt": "0.000003", "completion": "0.000015"},
    "top_provider": {"context_length": 200000, "max_completion_tokens": 8192},
    "supported_parameters": [
        "max_tokens",
        "reasoning",
        "include_reasoning",
        "tools",
        "tool_choice",
    ],
}


@pytest.fixture
def claude_catalog(tmp_path: Path) -> Path:
    import json

    path = tmp_path / "claude-catalog.json"
    path.write_text(json.dumps({"data": [CLAUDE_LIKE]}))
    return path


async def test_claude_turns_carry_cache_breakpoints_and_report_cached_tokens(
    open_sidecar: Any, claude_catalog: Path
) -> None:
    settings = {
        "simulator_catalog_path": claude_catalog,
        "chat": {"anthropic_prompt_cache_ttl": "1h"},
    }
    async with open_sidecar(**settings) as sidecar:
        first = await run_request(sidecar, with_chat("anthropic/claude-sim", "chat-a"))
        second = await run_request(sidecar, with_chat("anthropic/claude-sim", "chat-a"))
        records = await sim_requests(sidecar)
    assert records[0]["body"]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert records[0]["headers"]["x-anthropic-beta"] == "interleaved-thinking-2025-05-14"
    first_usage = first.of_type("done")[0]["usage"]
    second_done = second.of_type("done")[0]
    assert first_usage["prompt_tokens_details"]["cached_tokens"] == 0
    cached = second_done["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert cached > 0
    assert f"Cached: {cached}" in second_done["usage_line"]


async def test_claude_caching_on_the_chat_endpoint_uses_block_breakpoints(
    open_sidecar: Any, claude_catalog: Path
) -> None:
    settings = {
        "simulator_catalog_path": claude_catalog,
        "chat": {"default_endpoint": "chat_completions"},
    }
    async with open_sidecar(**settings) as sidecar:
        await run_request(sidecar, with_chat("anthropic/claude-sim", "chat-a"))
        records = await sim_requests(sidecar)
    body = records[0]["body"]
    assert "cache_control" not in body
    assert body["messages"][-1]["content"][-1]["cache_control"] == {
        "type": "ephemeral",
        "ttl": "5m",
    }


async def test_caching_and_beta_header_can_be_switched_off(
    open_sidecar: Any, claude_catalog: Path
) -> None:
    settings = {
        "simulator_catalog_path": claude_catalog,
        "chat": {"anthropic_prompt_caching": False, "anthropic_interleaved_thinking": False},
    }
    async with open_sidecar(**settings) as sidecar:
        await run_request(sidecar, with_chat("anthropic/claude-sim", "chat-a"))
        records = await sim_requests(sidecar)
    assert "cache_control" not in records[0]["body"]
    assert "x-anthropic-beta" not in records[0]["headers"]


async def test_a_users_interleaved_thinking_valve_overrides_the_admins_choice(
    open_sidecar: Any, claude_catalog: Path
) -> None:
    settings = {
        "simulator_catalog_path": claude_catalog,
        "chat": {"anthropic_interleaved_thinking": False},
    }
    on = {"ENABLE_ANTHROPIC_INTERLEAVED_THINKING": True}
    off = {"ENABLE_ANTHROPIC_INTERLEAVED_THINKING": False}
    async with open_sidecar(**settings) as sidecar:
        await run_request(
            sidecar, {**with_chat("anthropic/claude-sim", "chat-a"), "user_valves": on}
        )
        await run_request(
            sidecar,
            {
                **with_chat("anthropic/claude-sim", "chat-b"),
                "valves": {"ENABLE_ANTHROPIC_INTERLEAVED_THINKING": True},
                "user_valves": off,
            },
        )
        refused = await run_request(
            sidecar,
            {
                **with_chat("anthropic/claude-sim", "chat-c"),
                "user_valves": {"ENABLE_ANTHROPIC_INTERLEAVED_THINKING": "sometimes"},
            },
        )
        records = await sim_requests(sidecar)
    assert records[0]["headers"]["x-anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert "x-anthropic-beta" not in records[1]["headers"]
    assert len(records) == 2  # the bad value never went upstream
    [error] = refused.of_type("error")
    assert "user_valves.ENABLE_ANTHROPIC_INTERLEAVED_THINKING" in error["message"]


# -- reasoning recovery ------------------------------------------------------------------------


async def test_rejected_replayed_reasoning_is_retried_once_without_it(
    sidecar: Sidecar, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    forged = {
        "type": "reasoning",
        "id": "rs_tmp_x",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": "old thought"}],
        "signature": "forged",
        "format": "anthropic-claude-v1",
    }
    build = turn.build_payload

    def build_with_replayed_reasoning(turn_request: Any) -> dict[str, Any]:
        # Stands in for marker replay: the payload carries a thinking block whose signature
        # the provider will not accept.
        payload = build(turn_request)
        payload["input"].insert(0, forged)
        return payload

    monkeypatch.setattr(turn, "build_payload", build_with_replayed_reasoning)
    with caplog.at_level("WARNING", logger="pipe_service.chat.upstream_route"):
        session = await run_request(sidecar, with_chat("sim/reasoning", "chat-r"))
    records = await sim_requests(sidecar)
    carried = [any(i.get("type") == "reasoning" for i in r["body"]["input"]) for r in records]
    assert carried == [True, False]
    assert session.text.count("You said") == 1
    assert "rejected replayed reasoning" in caplog.text


async def test_a_second_rejection_is_not_retried_again(
    sidecar: Sidecar, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = turn.build_payload

    def build_with_signature_error_model(turn_request: Any) -> dict[str, Any]:
        payload = build(turn_request)
        payload["input"].insert(0, {"type": "reasoning", "id": "r", "summary": [],
                                    "content": [{"type": "reasoning_text", "text": "t"}],
                                    "format": "anthropic-claude-v1"})  # fmt: skip
        return payload

    monkeypatch.setattr(turn, "build_payload", build_with_signature_error_model)
    await run_request(sidecar, with_chat("sim/reasoning", "chat-r"))
    records = await sim_requests(sidecar)
    assert len(records) == 2


# -- error templates per failure kind ----------------------------------------------------------

TEMPLATES = {
    "messages": {
        "templates": {
            "rate_limit": "SLOW DOWN ({retry_after}s) {support} [{error_id}]",
            "restricted_model": "NOT HERE: {detail} {support}",
        },
        "support_contact": "Ask #ai-help.",
    }
}


async def test_each_failure_kind_uses_its_template_with_the_support_line(
    open_sidecar: Any,
) -> None:
    async with open_sidecar(**TEMPLATES) as sidecar:
        limited = (await run_request(sidecar, request_frame("sim/error-429"))).last
        hidden = (await run_request(sidecar, request_frame("nobody/nothing"))).last
        credits = (await run_request(sidecar, request_frame("sim/error-402"))).last
    assert limited["message"] == f"SLOW DOWN (0s) Ask #ai-help. [{limited['error_id']}]"
    assert hidden["message"].startswith("NOT HERE: model 'nobody/nothing' is not available")
    assert hidden["message"].endswith("Ask #ai-help.")
    assert "Insufficient credits" in credits["message"]
    assert "Ask #ai-help." in credits["message"]


@pytest.mark.parametrize("value", ['{"order": ', '{"sort": "fastest"}', '["a"]'])
async def test_a_malformed_provider_routing_valve_is_refused_naming_it(
    sidecar: Sidecar, value: str
) -> None:
    request = request_frame("sim/text", user_valves={"PROVIDER_ROUTING": value})
    error = (await run_request(sidecar, request)).last
    assert error["type"] == "error"
    assert error["code"] == "invalid_request"
    assert "PROVIDER_ROUTING" in error["message"]


async def test_a_fallback_hidden_by_the_catalog_filters_is_refused(open_sidecar: Any) -> None:
    body = chat_body(models=["sim/reasoning"])
    async with open_sidecar(models={"model_allowlist": "sim/text"}) as sidecar:
        error = (await run_request(sidecar, request_frame("sim/text", body=body))).last
        records = await sim_requests(sidecar)
    assert error["type"] == "error"
    assert "'sim/reasoning' is not offered" in error["message"]
    assert records == []


async def test_the_seed_admin_valves_reach_the_routing_options(sidecar: Sidecar) -> None:
    valves = {
        "FORCE_CHAT_COMPLETIONS_MODELS": "sim/tool-call, sim/text",
        "ZDR_ENFORCE": True,
        "ANTHROPIC_PROMPT_CACHE_TTL": "1h",
        "MODEL_ROUTING": '[{"models": ["sim/*"], "routing": {"sort": "price"}}]',
    }
    session = await run_request(sidecar, request_frame("sim/text", valves=valves))
    records = await sim_requests(sidecar)
    assert session.text.startswith("You said")
    assert records[0]["path"] == "/api/v1/chat/completions"
    assert records[0]["body"]["provider"] == {"sort": "price", "zdr": True}


async def test_a_malformed_routing_valve_is_refused_naming_it(sidecar: Sidecar) -> None:
    request = request_frame("sim/text", valves={"MODEL_ROUTING": "[{"})
    error = (await run_request(sidecar, request)).last
    assert error["code"] == "invalid_request"
    assert "MODEL_ROUTING" in error["message"]


async def test_a_silent_provider_on_chat_completions_gets_the_same_status_and_stall_error(
    open_sidecar: Any,
) -> None:
    # Both endpoints' streams go through the one relay (chat/upstream_relay.py).
    async with open_sidecar(
        streaming={"waiting_status_after_s": 0.2, "waiting_status_every_s": 0.2},
        upstream={"stall_timeout_s": 1.5},
        chat={"chat_completions_models": ["sim/stall"]},
    ) as sidecar:
        session = await run_request(sidecar, request_frame("sim/stall"))
        records = await sim_requests(sidecar)
    assert [record["path"] for record in records] == ["/api/v1/chat/completions"]
    statuses = [frame for frame in session.frames if frame["type"] == "event"]
    assert statuses
    assert session.last["type"] == "error"
    assert "Neither OpenRouter nor the model sent anything" in session.last["message"]
