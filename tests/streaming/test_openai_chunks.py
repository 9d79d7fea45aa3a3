"""OpenAI chat-completions rendering of turn events (chunks and whole completions)."""

from __future__ import annotations

from typing import Any

import pytest

from pipe_service.chat.events import (
    Citation,
    Completed,
    Failed,
    ReasoningDelta,
    ReasoningItem,
    Status,
    TextDelta,
    ToolCallRequest,
    TurnEvent,
)
from pipe_service.chat.openai_chunks import (
    to_chat_chunk,
    to_chat_chunks,
    to_chat_completion,
)
from pipe_service.openrouter.usage import Usage

COMPLETION_ID, MODEL, CREATED = "chatcmpl-1", "openai/gpt-5", 1700000000
USAGE = Usage(input_tokens=10, output_tokens=5, cached_tokens=2, reasoning_tokens=3, cost=0.01)
USAGE_DICT = {
    "prompt_tokens": 10,
    "completion_tokens": 5,
    "total_tokens": 15,
    "prompt_tokens_details": {"cached_tokens": 2},
    "completion_tokens_details": {"reasoning_tokens": 3},
    "cost": 0.01,
}
CALL = ToolCallRequest("call_1", "get_weather", '{"city":"Paris"}', "fc_1", index=1)


def completed(finish_reason: str = "stop", usage: Usage | None = USAGE) -> Completed:
    return Completed("gen-1", "openai/gpt-5", "completed", finish_reason, usage, [])  # type: ignore[arg-type]


def chunk_of(event: TurnEvent) -> dict[str, Any] | None:
    return to_chat_chunk(event, completion_id=COMPLETION_ID, model=MODEL, created=CREATED)


def chunks_of(event: TurnEvent, *, include_usage: bool = True) -> list[dict[str, Any]]:
    return to_chat_chunks(
        event,
        completion_id=COMPLETION_ID,
        model=MODEL,
        created=CREATED,
        include_usage=include_usage,
    )


def completion_of(events: list[TurnEvent]) -> dict[str, Any]:
    return to_chat_completion(events, completion_id=COMPLETION_ID, model=MODEL, created=CREATED)


def delta_of(chunk: dict[str, Any] | None) -> Any:
    assert chunk is not None
    return chunk["choices"][0]["delta"]


def test_text_delta_becomes_delta_content() -> None:
    chunk = chunk_of(TextDelta("Hi"))
    assert chunk == {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "openai/gpt-5",
        "choices": [
            {"index": 0, "delta": {"content": "Hi"}, "logprobs": None, "finish_reason": None}
        ],
    }


def test_reasoning_delta_becomes_reasoning_content() -> None:
    assert delta_of(chunk_of(ReasoningDelta("hmm"))) == {"reasoning_content": "hmm"}


def test_tool_call_becomes_indexed_tool_call_delta() -> None:
    assert delta_of(chunk_of(CALL)) == {
        "tool_calls": [
            {
                "index": 1,
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ]
    }


@pytest.mark.parametrize("finish_reason", ["stop", "length", "tool_calls", "content_filter"])
def test_completed_chunk_carries_finish_reason_and_usage(finish_reason: str) -> None:
    chunk = chunk_of(completed(finish_reason))
    assert chunk is not None
    assert chunk["choices"][0]["finish_reason"] == finish_reason
    assert chunk["choices"][0]["delta"] == {}
    assert chunk["usage"] == USAGE_DICT


def test_completed_gives_finish_chunk_then_separate_usage_chunk() -> None:
    finish, usage = chunks_of(completed())
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert "usage" not in finish
    assert usage["choices"] == []
    assert usage["usage"] == USAGE_DICT


def test_usage_chunk_can_be_left_out() -> None:
    assert len(chunks_of(completed(), include_usage=False)) == 1


def test_unknown_cost_is_not_rendered() -> None:
    chunk = chunk_of(completed(usage=Usage(input_tokens=1)))
    assert chunk is not None
    assert "cost" not in chunk["usage"]


@pytest.mark.parametrize(
    "event",
    [
        Status("x", done=False),
        Citation("https://a", "A", None, 1),
        ReasoningItem({"type": "reasoning"}),
        USAGE,
        Failed("server_error", "boom", None, None),
    ],
    ids=["status", "citation", "reasoning_item", "usage", "failed"],
)
def test_events_without_chunk_form_render_nothing(event: TurnEvent) -> None:
    assert chunk_of(event) is None
    assert chunks_of(event) == []


def test_completion_joins_text_reasoning_and_tool_calls() -> None:
    events: list[TurnEvent] = [
        ReasoningDelta("th"),
        ReasoningDelta("ink"),
        TextDelta("Hel"),
        TextDelta("lo"),
        Status("x", done=True),
        CALL,
        USAGE,
        completed("tool_calls"),
    ]
    completion = completion_of(events)
    assert completion == {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "openai/gpt-5",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Hello",
                    "reasoning_content": "think",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        }
                    ],
                },
                "logprobs": None,
                "finish_reason": "tool_calls",
            }
        ],
        "usage": USAGE_DICT,
    }


def test_completion_without_reasoning_or_tools_has_plain_message() -> None:
    completion = completion_of([TextDelta("Hi"), completed()])
    assert completion["choices"][0]["message"] == {"role": "assistant", "content": "Hi"}


def test_completion_of_failed_turn_keeps_partial_output_and_finishes_with_error() -> None:
    failed = Failed("rate_limit_exceeded", "Slow down", None, "gen-1")
    completion = completion_of([TextDelta("partial"), failed])
    choice = completion["choices"][0]
    assert choice["message"]["content"] == "partial"
    assert choice["finish_reason"] == "error"
    assert "usage" not in completion
