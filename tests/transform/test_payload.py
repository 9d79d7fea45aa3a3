"""Top-level payload rules: model, stream/store, identifiers, plugins, routing, task requests."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from pipe_service.transform.options import ProviderRouting
from pipe_service.transform.params import sanitize_metadata
from pipe_service.transform.payload import (
    RequestIdentity,
    RequestTransformError,
    TransformOptions,
    UserOverrides,
    build_task_payload,
    transform_request,
)
from tests.transform.models import BARE, FULL, body, build, model

IDENTITY = RequestIdentity(user_id="u-1", chat_id="c-1", session_id="s-1", message_id="m-1")
PDF = {"type": "file", "file": {"file_data": "data:application/pdf;base64,AA", "filename": "a.pdf"}}


def test_model_is_the_catalog_slug_not_the_owui_id() -> None:
    assert build(body(model="pipe.something_else"))["model"] == "acme/full"


def test_store_is_always_false() -> None:
    assert build(body(store=True))["store"] is False


@pytest.mark.parametrize("stream", [True, False])
def test_stream_follows_the_body(stream: bool) -> None:
    assert build(body(stream=stream))["stream"] is stream


def test_stream_defaults_to_false() -> None:
    assert build(body())["stream"] is False


def test_non_boolean_stream_is_a_request_error() -> None:
    with pytest.raises(RequestTransformError) as caught:
        build(body(stream="yes"))
    assert caught.value.field == "stream"


def test_non_object_body_is_a_request_error() -> None:
    with pytest.raises(RequestTransformError) as caught:
        build([])  # type: ignore[arg-type]
    assert caught.value.field == "$"


# Identifiers ---------------------------------------------------------------------------------


def test_identifiers_are_off_by_default() -> None:
    payload = build(body(), identity=IDENTITY)
    assert not payload.keys() & {"user", "session_id", "metadata"}


def test_client_supplied_identifiers_are_stripped() -> None:
    payload = build(body(user="spoof", session_id="spoof", metadata={"a": "b"}), identity=IDENTITY)
    assert not payload.keys() & {"user", "session_id", "metadata"}


def test_user_id_is_sent_when_allowed() -> None:
    options = TransformOptions(send_user_id=True)
    assert build(body(user="spoof"), options=options, identity=IDENTITY)["user"] == "u-1"


def test_session_id_is_sent_when_allowed() -> None:
    options = TransformOptions(send_session_id=True)
    assert build(body(), options=options, identity=IDENTITY)["session_id"] == "s-1"


def test_metadata_carries_the_request_ids_when_allowed() -> None:
    options = TransformOptions(send_metadata=True)
    assert build(body(), options=options, identity=IDENTITY)["metadata"] == {
        "user_id": "u-1",
        "chat_id": "c-1",
        "session_id": "s-1",
        "message_id": "m-1",
    }


def test_missing_identity_sends_no_identifiers() -> None:
    options = TransformOptions(send_user_id=True, send_session_id=True, send_metadata=True)
    assert not build(body(), options=options).keys() & {"user", "session_id", "metadata"}


def test_overlong_user_id_is_skipped_with_note() -> None:
    options = TransformOptions(send_user_id=True)
    result = transform_request(
        body(), model=FULL, options=options, identity=RequestIdentity(user_id="u" * 257)
    )
    assert "user" not in result.payload
    assert result.notes == ("user not sent: longer than 256 characters",)


def test_metadata_value_is_truncated_to_512_characters() -> None:
    assert sanitize_metadata({"k": "v" * 600}) == {"k": "v" * 512}


@pytest.mark.parametrize("key", ["k" * 65, "a[0]", "b]", ""])
def test_metadata_key_too_long_or_bracketed_is_skipped(key: str) -> None:
    assert sanitize_metadata({key: "v"}) == {}


def test_metadata_keeps_at_most_16_pairs() -> None:
    metadata = sanitize_metadata({f"k{i}": "v" for i in range(20)})
    assert list(metadata) == [f"k{i}" for i in range(16)]


def test_identity_reads_owui_metadata() -> None:
    identity = RequestIdentity.from_owui_metadata(
        {"user_id": "u", "chat_id": "", "session_id": 5, "message_id": "m", "other": "x"}
    )
    assert identity == RequestIdentity(user_id="u", message_id="m")


# Web search and plugins ----------------------------------------------------------------------


def test_web_search_is_off_by_default() -> None:
    payload = build(body())
    assert "plugins" not in payload
    assert "tools" not in payload


def test_web_search_tool_mode_adds_the_server_tool() -> None:
    options = TransformOptions(web_search_enabled=True, web_search_max_results=3)
    assert build(body(), options=options)["tools"] == [
        {"type": "openrouter:web_search", "parameters": {"max_results": 3}}
    ]


def test_web_search_tool_mode_falls_back_to_plugin_without_tool_calling() -> None:
    options = TransformOptions(web_search_enabled=True)
    assert build(body(), BARE, options)["plugins"] == [{"id": "web", "max_results": 5}]


def test_web_search_plugin_mode_adds_the_web_plugin() -> None:
    options = TransformOptions(web_search_enabled=True, web_search_mode="plugin")
    payload = build(body(), options=options)
    assert payload["plugins"] == [{"id": "web", "max_results": 5}]
    assert "tools" not in payload


def test_user_can_turn_web_search_off() -> None:
    options = TransformOptions(web_search_enabled=True)
    assert "tools" not in build(body(), options=options, user=UserOverrides(web_search=False))


def test_server_tools_are_off_by_default() -> None:
    tools = build(body()).get("tools", [])
    assert not [tool for tool in tools if tool["type"].startswith("openrouter:")]


def test_enabled_server_tools_are_offered_to_tool_calling_models() -> None:
    options = TransformOptions(web_fetch_enabled=True, datetime_enabled=True)
    assert build(body(), options=options)["tools"] == [
        {"type": "openrouter:web_fetch"},
        {"type": "openrouter:datetime"},
    ]


def test_the_advisor_subagent_and_model_search_tools_are_offered_when_enabled() -> None:
    options = TransformOptions(
        advisor_enabled=True, subagent_enabled=True, search_models_enabled=True
    )
    assert build(body(), options=options)["tools"] == [
        {"type": "openrouter:advisor"},
        {"type": "openrouter:subagent"},
        {"type": "openrouter:experimental__search_models"},
    ]


def test_server_tools_are_not_offered_to_models_without_tool_calling() -> None:
    options = TransformOptions(
        web_fetch_enabled=True, datetime_enabled=True, advisor_enabled=True, subagent_enabled=True
    )
    assert "tools" not in build(body(), BARE, options)


def test_web_search_results_are_bounded() -> None:
    with pytest.raises(ValidationError):
        TransformOptions(web_search_max_results=26)


def test_file_parser_plugin_is_added_when_configured_and_a_file_is_sent() -> None:
    options = TransformOptions(file_parser_engine="mistral-ocr")
    payload = build(body(messages=[{"role": "user", "content": [PDF]}]), options=options)
    assert payload["plugins"] == [{"id": "file-parser", "pdf": {"engine": "mistral-ocr"}}]


def test_file_parser_plugin_is_not_added_without_a_file() -> None:
    options = TransformOptions(file_parser_engine="mistral-ocr")
    assert "plugins" not in build(body(), options=options)


def test_context_trimming_adds_the_compression_plugin() -> None:
    options = TransformOptions(auto_context_trimming=True)
    assert build(body(), options=options)["plugins"] == [{"id": "context-compression"}]


# Routing -------------------------------------------------------------------------------------


def test_fallback_models_are_sent_without_duplicates_or_the_primary() -> None:
    options = TransformOptions(fallback_models=("b/x", "acme/full", "b/x", "c/y"))
    assert build(body(), options=options)["models"] == ["b/x", "c/y"]


def test_no_fallbacks_means_no_models_field() -> None:
    assert "models" not in build(body())


def test_provider_routing_is_passed_through() -> None:
    routing = ProviderRouting(
        order=("anthropic", "google-vertex"),
        allow_fallbacks=False,
        data_collection="deny",
        sort="price",
        quantizations=("fp8",),
        max_price={"prompt": "0.000001"},
    )
    assert build(body(), options=TransformOptions(provider_routing=routing))["provider"] == {
        "order": ["anthropic", "google-vertex"],
        "allow_fallbacks": False,
        "data_collection": "deny",
        "sort": "price",
        "quantizations": ["fp8"],
        "max_price": {"prompt": "0.000001"},
    }


def test_no_routing_means_no_provider_field() -> None:
    assert "provider" not in build(body())


def test_user_zdr_request_adds_provider_zdr() -> None:
    assert build(body(), user=UserOverrides(request_zdr=True))["provider"] == {"zdr": True}


@pytest.mark.parametrize(
    "routing",
    [
        {"sort": "cheapest"},
        {"quantizations": ["fp7"]},
        {"data_collection": "maybe"},
        {"order": [""]},
        {"max_price": {"prompt": -1}},
        {"unknown": 1},
    ],
)
def test_invalid_provider_routing_is_rejected_at_configuration(routing: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ProviderRouting.model_validate(routing)


# Task requests -------------------------------------------------------------------------------


def task(**fields: Any) -> dict[str, Any]:
    options = TransformOptions(web_search_enabled=True, file_parser_engine="native")
    return build_task_payload(body(**fields), model=FULL, options=options, task="title_generation")


def test_task_request_is_never_streamed() -> None:
    assert task(stream=True)["stream"] is False


def test_task_request_uses_the_task_reasoning_effort_only() -> None:
    assert task(reasoning_effort="high")["reasoning"] == {"effort": "low"}


def test_task_request_has_no_tools_plugins_or_format() -> None:
    payload = task(tools=[{"type": "function", "function": {"name": "f"}}],
                   response_format={"type": "json_object"})  # fmt: skip
    assert not payload.keys() & {"tools", "plugins", "text", "include", "tool_choice"}


def test_task_request_for_non_reasoning_model_has_no_reasoning() -> None:
    payload = build_task_payload(
        body(), model=model(reasoning=False), options=TransformOptions(), task="tags_generation"
    )
    assert "reasoning" not in payload


def test_task_request_keeps_store_false() -> None:
    assert task()["store"] is False


def test_task_request_needs_a_task_name() -> None:
    with pytest.raises(RequestTransformError) as caught:
        build_task_payload(body(), model=FULL, options=TransformOptions(), task=" ")
    assert caught.value.field == "task"
