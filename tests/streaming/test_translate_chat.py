"""Chat-completions chunks → the same turn events the Responses translator produces."""

from __future__ import annotations

from typing import Any

from pipe_service.chat.events import (
    Citation,
    Completed,
    Failed,
    ReasoningDelta,
    ReasoningItem,
    TextDelta,
    ToolCallRequest,
)
from pipe_service.chat.translate_chat import (
    ChatCompletionsStreamTranslator,
    translate_chat_completion,
    usage_from_chat,
)
from pipe_service.openrouter.usage import Usage


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {
        "id": "gen-1",
        "model": "sim/text",
        "object": "chat.completion.chunk",
        "choices": [choice],
        **extra,
    }


USAGE = {
    "prompt_tokens": 10,
    "completion_tokens": 5,
    "total_tokens": 15,
    "cost": 0.5,
    "prompt_tokens_details": {"cached_tokens": 7, "cache_write_tokens": 3},
    "completion_tokens_details": {"reasoning_tokens": 2},
}


def run(chunks: list[dict[str, Any]]) -> list[Any]:
    translator = ChatCompletionsStreamTranslator()
    events: list[Any] = []
    for item in chunks:
        events += translator.feed(item)
    return events + translator.finish()


def test_text_then_finish_then_usage_complete_the_turn() -> None:
    events = run(
        [
            chunk({"role": "assistant", "content": "Hel"}),
            chunk({"content": "lo"}),
            chunk({"content": ""}, "stop"),
            {"id": "gen-1", "choices": [], "usage": USAGE},
        ]
    )
    assert events[:2] == [TextDelta("Hel"), TextDelta("lo")]
    usage = Usage(10, 5, cached_tokens=7, reasoning_tokens=2, cost=0.5, cache_write_tokens=3)
    assert events[2] == usage
    completed = events[3]
    assert isinstance(completed, Completed)
    assert completed.finish_reason == "stop"
    assert completed.usage == usage
    assert completed.response_id == "gen-1"
    assert completed.output_items[0]["content"][0]["text"] == "Hello"


def test_reasoning_streams_once_and_becomes_a_signed_replayable_item() -> None:
    detail = {"type": "reasoning.text", "text": "think", "index": 0}
    signed = {
        "type": "reasoning.text",
        "text": "",
        "signature": "sig",
        "format": "anthropic-claude-v1",
    }
    events = run(
        [
            chunk({"reasoning": "think", "reasoning_details": [detail]}),
            chunk({"reasoning_details": [signed]}),
            chunk({"content": "ok"}, "stop"),
        ]
    )
    assert events[0] == ReasoningDelta("think")
    items = [e for e in events if isinstance(e, ReasoningItem)]
    assert items[0].item["content"] == [{"type": "reasoning_text", "text": "think"}]
    assert items[0].item["signature"] == "sig"
    assert items[0].item["format"] == "anthropic-claude-v1"


def test_reasoning_details_alone_still_show_the_reasoning_text() -> None:
    events = run(
        [
            chunk({"reasoning_details": [{"type": "reasoning.summary", "summary": "plan"}]}),
            chunk({}, "stop"),
        ]
    )
    assert events[0] == ReasoningDelta("plan")


def test_tool_call_pieces_are_assembled_by_index() -> None:
    events = run(
        [
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "w", "arguments": ""},
                        }
                    ]
                }
            ),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]}),
            chunk({}, "tool_calls"),
        ]
    )
    calls = [e for e in events if isinstance(e, ToolCallRequest)]
    assert calls == [ToolCallRequest("c1", "w", '{"city":"Oslo"}', None, 0)]
    completed = events[-1]
    assert isinstance(completed, Completed)
    assert completed.finish_reason == "tool_calls"
    assert completed.output_items[-1]["type"] == "function_call"


def test_annotations_become_numbered_citations() -> None:
    annotation = {
        "type": "url_citation",
        "url_citation": {"url": "https://a", "title": "A", "start_index": 0, "end_index": 1},
    }
    events = run([chunk({"content": "x", "annotations": [annotation]}), chunk({}, "stop")])
    assert [e for e in events if isinstance(e, Citation)] == [Citation("https://a", "A", None, 1)]


def test_an_error_chunk_fails_the_turn_after_the_partial_text() -> None:
    events = run(
        [
            chunk({"content": "part"}),
            {**chunk({"content": ""}, "error"), "error": {"code": 502, "message": "boom"}},
            chunk({"content": "ignored"}),
        ]
    )
    assert events[0] == TextDelta("part")
    assert events[1] == Failed(code="502", message="boom", error_type=None, response_id="gen-1")
    assert len(events) == 2


def test_a_stream_without_finish_reason_fails_as_incomplete() -> None:
    events = run([chunk({"content": "part"})])
    assert isinstance(events[-1], Failed)
    assert events[-1].code == "stream_ended_without_completion"


def test_a_length_finish_is_incomplete() -> None:
    events = run([chunk({"content": "x"}, "length")])
    assert isinstance(events[-1], Completed)
    assert events[-1].finish_reason == "length"
    assert events[-1].status == "incomplete"


def test_a_whole_chat_completion_translates_like_a_stream() -> None:
    body = {
        "id": "gen-2",
        "model": "m",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "Hi", "reasoning": "r"},
            }
        ],
        "usage": USAGE,
    }
    events = translate_chat_completion(body)
    assert events[0] == ReasoningDelta("r")
    assert events[1] == TextDelta("Hi")
    assert isinstance(events[-1], Completed)


def test_usage_absent_is_none() -> None:
    assert usage_from_chat(None) is None
