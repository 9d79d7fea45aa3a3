"""Hostile Responses API bodies (``POST /v1/responses``) at the door and through the rewrite:
refused by the strict parser, or rewritten and transformed into a payload httpx can send, or a
:class:`RequestTransformError` naming the field; never another exception (an HTTP 500)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipe_service.strict_json import UnacceptableJsonError, loads_strict
from pipe_service.transform.errors import RequestTransformError
from pipe_service.transform.options import TransformOptions
from pipe_service.transform.payload import build_responses_payload
from pipe_service.transform.responses_body import chat_body_from_responses
from tests.hostile_json import Hostile, hostile_documents
from tests.transform.models import FULL

RESPONSES_BODIES = st.builds(
    lambda text, stream, tool_output: {
        "model": "sim/text",
        "instructions": "Be brief.",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": text}]},
            {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": tool_output},
        ],
        "tools": [{"type": "function", "name": "weather", "parameters": {"type": "object"}}],
        "temperature": 0.5,
        "stream": stream,
    },
    st.text(max_size=10),
    st.booleans(),
    st.text(max_size=10),
)


@settings(max_examples=300, deadline=None)
@given(hostile_documents(RESPONSES_BODIES))
def test_hostile_values_anywhere_in_a_responses_body_are_refused_or_named(
    case: tuple[str, Hostile],
) -> None:
    text, hostile = case
    try:
        body: Any = loads_strict(text)
    except UnacceptableJsonError:
        assert hostile.must_refuse, hostile.kind
        return
    assert not hostile.must_refuse, hostile.kind
    try:
        chat = chat_body_from_responses(body)
        payload = build_responses_payload(chat.body, model=FULL, options=TransformOptions())
    except RequestTransformError:
        return
    json.dumps(payload, allow_nan=False, ensure_ascii=False).encode("utf-8")
