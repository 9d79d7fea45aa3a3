"""Messages → instructions and input items: one rule per test."""

from __future__ import annotations

from typing import Any

import pytest

from pipe_service.transform.options import TransformOptions
from pipe_service.transform.payload import RequestTransformError, transform_request
from tests.transform.models import BARE, FULL, body, build, user_says


def items(messages: list[dict[str, Any]], caps: Any = FULL) -> list[dict[str, Any]]:
    converted: list[dict[str, Any]] = build(body(messages=messages), caps)["input"]
    return converted


def test_system_and_developer_messages_join_into_instructions_in_order() -> None:
    payload = build(
        body(
            messages=[
                {"role": "system", "content": "one"},
                {"role": "user", "content": "hi"},
                {"role": "developer", "content": [{"type": "text", "text": "two"}]},
            ]
        )
    )
    assert payload["instructions"] == "one\n\ntwo"


def test_no_system_message_means_no_instructions() -> None:
    assert "instructions" not in build(body())


def test_user_string_becomes_input_text_message() -> None:
    assert items(user_says("hello")) == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}
    ]


def test_user_image_part_becomes_input_image_with_auto_detail() -> None:
    part = {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
    content = items([{"role": "user", "content": [part]}])[0]["content"]
    assert content == [{"type": "input_image", "image_url": "https://x/y.png", "detail": "auto"}]


def test_user_image_detail_is_kept() -> None:
    part = {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "high"}}
    content = items([{"role": "user", "content": [part]}])[0]["content"]
    assert content[0]["detail"] == "high"


def test_image_for_text_only_model_becomes_placeholder_and_note() -> None:
    part = {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
    result = transform_request(
        body(messages=[{"role": "user", "content": [part]}]), model=BARE, options=TransformOptions()
    )
    assert result.payload["input"][0]["content"] == [
        {"type": "input_text", "text": "[image omitted: this model cannot read image]"}
    ]
    assert result.notes == ("image omitted: acme/bare does not accept image input",)


def test_input_audio_part_is_kept_for_audio_model() -> None:
    part = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "WAV"}}
    content = items([{"role": "user", "content": [part]}])[0]["content"]
    assert content == [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]


def test_audio_for_model_without_audio_becomes_placeholder() -> None:
    part = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "mp3"}}
    content = items([{"role": "user", "content": [part]}], BARE)[0]["content"]
    assert content[0]["type"] == "input_text"


def test_video_part_becomes_input_video() -> None:
    part = {"type": "video_url", "video_url": {"url": "https://x/v.mp4"}}
    content = items([{"role": "user", "content": [part]}])[0]["content"]
    assert content == [{"type": "input_video", "video_url": "https://x/v.mp4"}]


def test_file_part_becomes_input_file_even_for_text_only_model() -> None:
    pdf = "data:application/pdf;base64,AA"
    part = {"type": "file", "file": {"file_data": pdf, "filename": "a.pdf"}}
    content = items([{"role": "user", "content": [part]}], BARE)[0]["content"]
    assert content == [{"type": "input_file", "file_data": pdf, "filename": "a.pdf"}]


def test_assistant_text_becomes_completed_output_message_with_stable_id() -> None:
    history = [*user_says(), {"role": "assistant", "content": "answer"}, *user_says("more")]
    first, second = items(history), items(history)
    assistant = first[1]
    assert assistant["type"] == "message"
    assert assistant["role"] == "assistant"
    assert assistant["status"] == "completed"
    assert assistant["content"] == [{"type": "output_text", "text": "answer", "annotations": []}]
    assert assistant["id"].startswith("msg_")
    assert assistant["id"] == second[1]["id"]


def test_same_text_at_another_position_gets_another_id() -> None:
    reply = {"role": "assistant", "content": "same"}
    result = items([*user_says(), reply, *user_says(), reply, *user_says()])
    assert result[1]["id"] != result[3]["id"]


def test_empty_assistant_message_is_skipped() -> None:
    result = items([*user_says(), {"role": "assistant", "content": ""}, *user_says()])
    assert [item["role"] for item in result] == ["user", "user"]


def test_assistant_tool_calls_and_tool_results_become_function_items() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
    result = items(
        [
            *user_says(),
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "42"},
        ]
    )
    assert result[1] == {
        "type": "function_call",
        "id": result[1]["id"],
        "call_id": "call_1",
        "name": "f",
        "arguments": '{"a":1}',
        "status": "completed",
    }
    assert result[1]["id"].startswith("fc_")
    assert result[2] == {"type": "function_call_output", "call_id": "call_1", "output": "42"}


def test_tool_call_object_arguments_are_serialised() -> None:
    call = {"id": "c", "function": {"name": "f", "arguments": {"a": 1}}}
    result = items(
        [*user_says(), {"role": "assistant", "tool_calls": [call]},
         {"role": "tool", "tool_call_id": "c", "content": "ok"}]
    )  # fmt: skip
    assert result[1]["arguments"] == '{"a": 1}'


def test_tool_call_without_result_is_dropped_with_note() -> None:
    call = {"id": "c", "function": {"name": "f", "arguments": "{}"}}
    result = transform_request(
        body(messages=[*user_says(), {"role": "assistant", "tool_calls": [call]}]),
        model=FULL,
        options=TransformOptions(),
    )
    assert [item["type"] for item in result.payload["input"]] == ["message"]
    assert result.notes == ("dropped tool call 'c': it has no tool result",)


def test_tool_result_without_call_is_dropped() -> None:
    result = items([*user_says(), {"role": "tool", "tool_call_id": "ghost", "content": "x"}])
    assert [item["type"] for item in result] == ["message"]


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ("hello", "messages"),
        ([], "messages"),
        ([{"role": "system", "content": "only"}], "messages"),
        (["hi"], "messages[0]"),
        ([{"role": "wizard", "content": "x"}], "messages[0].role"),
        ([{"content": "x"}], "messages[0].role"),
        ([{"role": "user", "content": 5}], "messages[0].content"),
        ([{"role": "user", "content": ["x"]}], "messages[0].content[0]"),
        ([{"role": "user", "content": [{"text": "x"}]}], "messages[0].content[0].type"),
        ([{"role": "user", "content": [{"type": "hologram"}]}], "messages[0].content[0].type"),
        ([{"role": "user", "content": [{"type": "text", "text": 1}]}],
         "messages[0].content[0].text"),
        ([{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}],
         "messages[0].content[0].image_url"),
        ([{"role": "user", "content": [{"type": "image_url",
                                        "image_url": {"url": "u", "detail": "max"}}]}],
         "messages[0].content[0].image_url.detail"),
        ([{"role": "user", "content": [{"type": "input_audio",
                                        "input_audio": {"data": "A", "format": "ogg"}}]}],
         "messages[0].content[0].input_audio.format"),
        ([{"role": "user", "content": [{"type": "file", "file": {"filename": "a"}}]}],
         "messages[0].content[0].file"),
        ([{"role": "system", "content": [{"type": "image_url", "image_url": "u"}]}, *user_says()],
         "messages[0].content[0].type"),
        ([*user_says(), {"role": "assistant", "tool_calls": "x"}], "messages[1].tool_calls"),
        ([*user_says(), {"role": "assistant", "tool_calls": [{"function": {"name": "f"}}]}],
         "messages[1].tool_calls[0].id"),
        ([*user_says(), {"role": "assistant", "tool_calls": [{"id": "c", "function": {}}]}],
         "messages[1].tool_calls[0].function.name"),
        ([*user_says(), {"role": "tool", "content": "x"}], "messages[1].tool_call_id"),
        ([*user_says(), {"role": "assistant", "content": [{"type": "image_url"}]}],
         "messages[1].content[0].type"),
    ],
)  # fmt: skip
def test_invalid_messages_raise_with_json_path(messages: object, field: str) -> None:
    with pytest.raises(RequestTransformError) as caught:
        build(body(messages=messages))
    assert caught.value.field == field

