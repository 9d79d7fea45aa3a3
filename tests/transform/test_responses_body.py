"""The Responses request body → chat body rewrite that ``POST /v1/responses`` runs first."""

from __future__ import annotations

import pytest

from pipe_service.transform.errors import RequestTransformError
from pipe_service.transform.responses_body import chat_body_from_responses


def test_string_input_and_instructions_become_system_and_user_messages() -> None:
    chat = chat_body_from_responses({"model": "m", "input": "hi", "instructions": "be brief"})
    assert chat.body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]


def test_flat_function_tools_and_tool_choice_take_the_chat_nesting() -> None:
    tool = {"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": True}
    chat = chat_body_from_responses(
        {"input": "x", "tools": [tool], "tool_choice": {"type": "function", "name": "f"}}
    )
    assert chat.body["tools"] == [
        {
            "type": "function",
            "function": {"name": "f", "parameters": {"type": "object"}, "strict": True},
        }
    ]
    assert chat.body["tool_choice"] == {"type": "function", "function": {"name": "f"}}


def test_limits_reasoning_and_text_format_map_to_their_chat_names() -> None:
    chat = chat_body_from_responses(
        {
            "input": "x",
            "max_output_tokens": 50,
            "reasoning": {"effort": "low", "summary": "auto"},
            "text": {
                "verbosity": "low",
                "format": {"type": "json_schema", "name": "answer", "schema": {"type": "object"}},
            },
        }
    )
    assert chat.body["max_tokens"] == 50
    assert chat.body["reasoning_effort"] == "low"
    assert chat.body["verbosity"] == "low"
    assert chat.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": {"type": "object"}},
    }


def test_reasoning_items_are_skipped_and_error_paths_still_name_the_input_item() -> None:
    chat = chat_body_from_responses(
        {
            "instructions": "sys",
            "input": [
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"role": "user", "content": "hi"},
            ],
        }
    )
    assert [message["role"] for message in chat.body["messages"]] == ["system", "user"]
    assert chat.input_field("messages[1].content[0].text") == "input[1].content[0].text"
    assert chat.input_field("messages[0].content") == "instructions"
    assert chat.input_field("tools[0]") == "tools[0]"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"input": []}, "input"),
        ({"input": [{"type": "web_search_call"}]}, "input[0].type"),
        ({"input": [{"role": "wizard", "content": "x"}]}, "input[0].role"),
        ({"input": [{"type": "function_call", "name": "f"}]}, "input[0].call_id"),
        ({"input": "x", "tools": [{"type": "web_search_preview"}]}, "tools[0].type"),
        ({"input": "x", "conversation": "conv_1"}, "conversation"),
        ({"input": "x", "instructions": 3}, "instructions"),
        ({"input": "x", "text": {"format": "json"}}, "text.format"),
    ],
)
def test_bad_bodies_raise_naming_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(RequestTransformError) as raised:
        chat_body_from_responses(body)
    assert raised.value.field == field
