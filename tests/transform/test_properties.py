"""Property tests: on any JSON-ish body the transform either builds a payload or raises
RequestTransformError, and never asks OpenRouter to store anything."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipe_service.catalog.capabilities import ModelCapabilities
from pipe_service.strict_json import UnacceptableJsonError, loads_strict
from pipe_service.transform.payload import (
    RequestIdentity,
    RequestTransformError,
    TransformOptions,
    UserOverrides,
    build_responses_payload,
    build_task_payload,
)
from tests.hostile_json import Hostile, hostile_documents
from tests.transform.models import BARE, FULL

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["text", "image_url", "function", "object", "user", "auto", "json_schema"])
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(
        st.sampled_from(["type", "role", "content", "text", "name", "properties", "items",
                         "required", "allOf", "anyOf", "oneOf", "parameters", "function",
                         "url", "image_url", "id", "arguments", "json_schema", "schema"])
        | st.text(max_size=6),
        children,
        max_size=5,
    ),
    max_leaves=25,
)  # fmt: skip

PART = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image_url", "input_audio", "file", "video_url", "x"])},
    optional={"text": JSON, "image_url": JSON, "input_audio": JSON, "file": JSON,
              "video_url": JSON},
)  # fmt: skip
MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "developer", "user", "assistant", "tool", "bot"])},
    optional={"content": st.one_of(st.text(max_size=10), st.lists(PART, max_size=3), JSON),
              "tool_calls": JSON, "tool_call_id": st.text(max_size=5)},
)  # fmt: skip
TOOL = st.fixed_dictionaries(
    {"type": st.just("function"),
     "function": st.fixed_dictionaries({"name": st.text(min_size=1, max_size=8)},
                                       optional={"parameters": JSON, "description": JSON})},
)  # fmt: skip
GOOD_MESSAGE = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "user", "system", "assistant"]),
        "content": st.text(max_size=8),
    }
)
SCHEMA = st.fixed_dictionaries(
    {"type": st.just("object"),
     "properties": st.dictionaries(st.text(max_size=4), JSON | st.just({"type": "string"}),
                                   max_size=3)},
    optional={"required": JSON, "additionalProperties": JSON, "allOf": JSON},
)  # fmt: skip


def plausible(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly valid values for a field, sometimes any JSON."""
    return st.one_of(valid, valid, JSON)


def bodies(messages: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"messages": messages}, optional=OPTIONAL_FIELDS)


OPTIONAL_FIELDS: dict[str, st.SearchStrategy[Any]] = dict(
    stream=plausible(st.booleans()),
    store=JSON,
    tools=plausible(st.lists(TOOL | st.builds(
        lambda name, schema: {"type": "function",
                              "function": {"name": name, "parameters": schema}},
        st.text(min_size=1, max_size=4), SCHEMA), max_size=3)),
    tool_choice=plausible(st.sampled_from(["auto", "none", "required"])),
    response_format=plausible(st.sampled_from([{"type": "json_object"}, {"type": "text"}])),
    temperature=plausible(st.floats(0, 2)),
    top_p=plausible(st.floats(0, 1)),
    top_k=plausible(st.integers(0, 100)),
    max_tokens=plausible(st.integers(1, 10**6)),
    max_completion_tokens=plausible(st.integers(1, 10**6)),
    seed=JSON,
    reasoning_effort=plausible(st.sampled_from(["low", "high", "none"])),
    parallel_tool_calls=plausible(st.booleans()),
    verbosity=plausible(st.sampled_from(["low", "high"])),
    user=JSON,
    metadata=JSON,
    session_id=JSON,
)  # fmt: skip
BODY = bodies(
    plausible(st.lists(st.one_of(GOOD_MESSAGE, GOOD_MESSAGE, MESSAGE), min_size=1, max_size=5))
)
VALID_MESSAGES_BODY = bodies(
    st.lists(GOOD_MESSAGE, max_size=3).map(
        lambda history: [*history, {"role": "user", "content": "q"}]
    )
)

MODELS = st.sampled_from([FULL, BARE])
OPTIONS = st.builds(
    TransformOptions,
    strict_tools=st.booleans(),
    send_user_id=st.booleans(),
    send_metadata=st.booleans(),
    web_search_enabled=st.booleans(),
    file_parser_engine=st.sampled_from([None, "native"]),
)
IDENTITY = RequestIdentity(user_id="u", chat_id="c", session_id="s", message_id="m")


def check(payload: dict[str, Any]) -> None:
    assert payload["store"] is False
    assert payload["input"]
    json.dumps(payload, allow_nan=True)  # the payload is plain JSON data


@settings(max_examples=100)
@given(body=BODY, model=MODELS, options=OPTIONS)
def test_structured_bodies_build_or_raise_request_errors(
    body: dict[str, Any], model: ModelCapabilities, options: TransformOptions
) -> None:
    try:
        payload = build_responses_payload(
            body, model=model, options=options, user=UserOverrides(), identity=IDENTITY
        )
    except RequestTransformError:
        return
    check(payload)


@settings(max_examples=100)
@given(body=VALID_MESSAGES_BODY, model=MODELS, options=OPTIONS)
def test_bodies_with_valid_messages_build_or_raise_request_errors(
    body: dict[str, Any], model: ModelCapabilities, options: TransformOptions
) -> None:
    try:
        payload = build_responses_payload(body, model=model, options=options, identity=IDENTITY)
    except RequestTransformError as exc:
        field = exc.field
    else:
        check(payload)
        return
    assert not field.startswith("messages")


@settings(max_examples=100)
@given(body=JSON, model=MODELS)
def test_arbitrary_json_bodies_build_or_raise_request_errors(
    body: Any, model: ModelCapabilities
) -> None:
    try:
        payload = build_responses_payload(body, model=model, options=TransformOptions())
    except RequestTransformError:
        return
    check(payload)


@settings(max_examples=50)
@given(body=BODY, model=MODELS)
def test_task_bodies_build_or_raise_request_errors(
    body: dict[str, Any], model: ModelCapabilities
) -> None:
    try:
        payload = build_task_payload(body, model=model, options=TransformOptions(), task="t")
    except RequestTransformError:
        return
    check(payload)
    assert payload["stream"] is False


@settings(max_examples=300, deadline=None)
@given(case=hostile_documents(BODY), model=MODELS)
def test_client_json_through_the_door_builds_a_sendable_payload_or_a_clear_error(
    case: tuple[str, Hostile], model: ModelCapabilities
) -> None:
    """The OpenAI body as a client sends it (text): deep nesting, NaN/Infinity and lone
    surrogates planted anywhere are refused by the strict parser; anything else builds a
    payload httpx can encode (no NaN, valid UTF-8) or raises RequestTransformError."""
    text, hostile = case
    try:
        body = loads_strict(text)
    except UnacceptableJsonError:
        assert hostile.must_refuse, hostile.kind
        return
    assert not hostile.must_refuse, hostile.kind
    try:
        payload = build_responses_payload(body, model=model, options=TransformOptions())
    except RequestTransformError:
        return
    check(payload)
    json.dumps(payload, allow_nan=False, ensure_ascii=False).encode("utf-8")
