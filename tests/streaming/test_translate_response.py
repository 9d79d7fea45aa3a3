"""translate_response: a whole non-stream Response object gives the same turn events."""

from __future__ import annotations

from pipe_service.chat.events import (
    Citation,
    Completed,
    Failed,
    ReasoningDelta,
    ReasoningItem,
    Status,
    TextDelta,
    ToolCallRequest,
)
from pipe_service.chat.translate import RESPONSE_CANCELLED, translate_response
from pipe_service.openrouter.usage import Usage
from tests.streaming import responses_events as rx


def test_reasoning_then_text_then_usage_and_completed() -> None:
    output = [rx.anthropic_reasoning_item("Think."), rx.message_item("Answer", "msg_1")]
    events = translate_response(rx.response("completed", output))
    usage = events[3]
    assert events == [
        ReasoningDelta("Think."),
        ReasoningItem(output[0]),
        TextDelta("Answer"),
        usage,
        Completed(rx.RESPONSE_ID, rx.MODEL, "completed", "stop", usage, output),  # type: ignore[arg-type]
    ]
    assert isinstance(usage, Usage)
    assert usage.cost == 0.025706


def test_summaries_become_reasoning_with_separator() -> None:
    item = {
        "id": "rs_1",
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "A."}, {"type": "summary_text", "text": "B."}],
    }
    events = translate_response(rx.response("completed", [item]))
    assert events[:3] == [ReasoningDelta("A."), ReasoningDelta("\n\nB."), ReasoningItem(item)]


def test_encrypted_reasoning_gives_only_the_item() -> None:
    events = translate_response(rx.response("completed", [rx.ENCRYPTED_ITEM]))
    assert events[0] == ReasoningItem(rx.ENCRYPTED_ITEM)
    assert not [e for e in events if isinstance(e, ReasoningDelta)]


def test_function_calls_finish_with_tool_calls() -> None:
    output = [rx.function_call_item(0, "a", "{}"), rx.function_call_item(1, "b", '{"x":1}')]
    events = translate_response(rx.response("completed", output))
    assert events[:2] == [
        ToolCallRequest("call_0", "a", "{}", "fc_0", 0),
        ToolCallRequest("call_1", "b", '{"x":1}', "fc_1", 1),
    ]
    final = events[-1]
    assert isinstance(final, Completed)
    assert final.finish_reason == "tool_calls"


def test_citations_and_web_search_status() -> None:
    cites = [rx.citation("https://a.example", "A", "quote")]
    output = [rx.web_search_item(query="q"), rx.message_item("See [1]", annotations=cites)]
    events = translate_response(rx.response("completed", output))
    assert events[:3] == [
        Status("Searched the web: q", done=True),
        TextDelta("See [1]"),
        Citation("https://a.example", "A", "quote", 1),
    ]


def test_failed_response() -> None:
    failed = rx.response(
        "failed", [], error={"code": "server_error", "message": "boom"}, error_type="server"
    )
    assert translate_response(failed) == [Failed("server_error", "boom", "server", rx.RESPONSE_ID)]


def test_cancelled_response_fails_with_stable_code() -> None:
    [event] = translate_response(rx.response("cancelled", []))
    assert isinstance(event, Failed)
    assert event.code == RESPONSE_CANCELLED


def test_incomplete_response_finishes_with_length() -> None:
    response = rx.response(
        "incomplete", [rx.message_item("Cut")], incomplete_details={"reason": "max_output_tokens"}
    )
    final = translate_response(response)[-1]
    assert isinstance(final, Completed)
    assert (final.status, final.finish_reason) == ("incomplete", "length")


def test_response_without_usage_has_no_usage_event() -> None:
    response = {**rx.response("completed", [rx.message_item("Hi")]), "usage": None}
    events = translate_response(response)
    assert not [e for e in events if isinstance(e, Usage)]
    final = events[-1]
    assert isinstance(final, Completed)
    assert final.usage is None
