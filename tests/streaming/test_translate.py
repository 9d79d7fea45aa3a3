"""ResponsesStreamTranslator: real-shaped Responses event sequences in, turn events out.

The table tests run whole scenarios from the protocol reference (text, reasoning of each kind,
tool calls, citations, terminal and error events) and compare the complete output; the tests
below them pin single rules (dedup, separators, counters, surrogates).
"""

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
from pipe_service.chat.responses_usage import usage_from_responses
from pipe_service.chat.translate import STREAM_ENDED_WITHOUT_COMPLETION, ResponsesStreamTranslator
from pipe_service.openrouter.usage import Usage
from tests.streaming import responses_events as rx

EXPECTED_USAGE = Usage(
    input_tokens=9175,
    output_tokens=277,
    cached_tokens=100,
    reasoning_tokens=135,
    cost=0.025706,
    cache_write_tokens=9172,
)


def run(events: list[dict[str, Any]], *, finish: bool = True) -> list[TurnEvent]:
    translator = ResponsesStreamTranslator()
    out: list[TurnEvent] = []
    for event in rx.numbered(events):
        out += translator.feed(event)
    return out + (translator.finish() if finish else [])


def completed(output: list[dict[str, Any]], finish_reason: str = "stop") -> list[TurnEvent]:
    return [
        EXPECTED_USAGE,
        Completed(rx.RESPONSE_ID, rx.MODEL, "completed", finish_reason, EXPECTED_USAGE, output),  # type: ignore[arg-type]
    ]


def terminal(kind: str, output: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    status = kind.removeprefix("response.")
    return {"type": kind, "response": rx.response(status, output, **extra)}


TEXT_OUTPUT = [rx.message_item("Two words")]
ANTHROPIC_OUTPUT = [rx.anthropic_reasoning_item("Let me think."), rx.message_item("Hi", "msg_1")]
SUMMARY_ITEM_OUTPUT = rx.summary_events([["First part."], ["Second ", "part."]])[-1]["item"]
CALLS = [rx.function_call_item(0, "get_weather", '{"location":"Paris"}')]
PARALLEL = [*CALLS, rx.function_call_item(1, "get_time", '{"tz":"CET"}')]
CITES = [
    rx.citation("https://a.example/x", "A", "excerpt a"),
    rx.citation("https://b.example", "B"),
]
CITED_OUTPUT = [rx.message_item("See [1]", annotations=CITES)]

SCENARIOS: list[tuple[str, list[dict[str, Any]], list[TurnEvent]]] = [
    (
        "plain_text",
        [
            *rx.preamble(),
            *rx.message_events(["Two", " words"]),
            terminal("response.completed", TEXT_OUTPUT),
        ],
        [TextDelta("Two"), TextDelta(" words"), *completed(TEXT_OUTPUT)],
    ),
    (
        "anthropic_visible_reasoning",
        [
            *rx.preamble(),
            *rx.anthropic_reasoning_events(["Let me ", "think."]),
            *rx.message_events(["Hi"], output_index=1, item_id="msg_1"),
            terminal("response.completed", ANTHROPIC_OUTPUT),
        ],
        [
            ReasoningDelta("Let me "),
            ReasoningDelta("think."),
            ReasoningItem(ANTHROPIC_OUTPUT[0]),
            TextDelta("Hi"),
            *completed(ANTHROPIC_OUTPUT),
        ],
    ),
    (
        "openai_encrypted_reasoning",
        [
            *rx.preamble(),
            *rx.encrypted_reasoning_events(),
            *rx.message_events(["Done"], output_index=1, item_id="msg_1"),
            terminal("response.completed", [rx.ENCRYPTED_ITEM, rx.message_item("Done", "msg_1")]),
        ],
        [
            ReasoningItem(rx.ENCRYPTED_ITEM),
            TextDelta("Done"),
            *completed([rx.ENCRYPTED_ITEM, rx.message_item("Done", "msg_1")]),
        ],
    ),
    (
        "reasoning_summaries_separated_by_blank_line",
        [*rx.preamble(), *rx.summary_events([["First part."], ["Second ", "part."]])],
        [
            ReasoningDelta("First part."),
            ReasoningDelta("\n\nSecond "),
            ReasoningDelta("part."),
            ReasoningItem(SUMMARY_ITEM_OUTPUT),
            Failed(STREAM_ENDED_WITHOUT_COMPLETION, rx.ANY_MESSAGE, None, rx.RESPONSE_ID),
        ],
    ),
    (
        "single_function_call",
        [
            *rx.preamble(),
            *rx.function_call_events(0, "get_weather", ['{"loc', 'ation":"Paris"}']),
            terminal("response.completed", CALLS),
        ],
        [
            ToolCallRequest("call_0", "get_weather", '{"location":"Paris"}', "fc_0", 0),
            *completed(CALLS, "tool_calls"),
        ],
    ),
    (
        "parallel_function_calls",
        [
            *rx.preamble(),
            *rx.function_call_events(0, "get_weather", ['{"location":"Paris"}']),
            *rx.function_call_events(1, "get_time", ['{"tz":', '"CET"}']),
            terminal("response.completed", PARALLEL),
        ],
        [
            ToolCallRequest("call_0", "get_weather", '{"location":"Paris"}', "fc_0", 0),
            ToolCallRequest("call_1", "get_time", '{"tz":"CET"}', "fc_1", 1),
            *completed(PARALLEL, "tool_calls"),
        ],
    ),
    (
        "streamed_citations",
        [
            *rx.preamble(),
            *rx.message_events(["See [1]"], annotations=CITES),
            terminal("response.completed", CITED_OUTPUT),
        ],
        [
            TextDelta("See [1]"),
            Citation("https://a.example/x", "A", "excerpt a", 1),
            Citation("https://b.example", "B", None, 2),
            *completed(CITED_OUTPUT),
        ],
    ),
    (
        "citations_only_in_completed_response",
        [
            *rx.preamble(),
            *rx.message_events(["See [1]"])[:-1],  # no output_item.done either
            terminal("response.completed", CITED_OUTPUT),
        ],
        [
            TextDelta("See [1]"),
            Citation("https://a.example/x", "A", "excerpt a", 1),
            Citation("https://b.example", "B", None, 2),
            *completed(CITED_OUTPUT),
        ],
    ),
    (
        "web_search_status_lines",
        [
            *rx.preamble(),
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": {**rx.web_search_item(), "status": "in_progress", "action": {}},
            },
            {"type": "response.output_item.done", "output_index": 0, "item": rx.web_search_item()},
            *rx.message_events(["Found"], output_index=1, item_id="msg_1"),
            terminal(
                "response.completed", [rx.web_search_item(), rx.message_item("Found", "msg_1")]
            ),
        ],
        [
            Status("Searching the web…", done=False),
            Status("Searched the web: trio docs", done=True),
            TextDelta("Found"),
            *completed([rx.web_search_item(), rx.message_item("Found", "msg_1")]),
        ],
    ),
    (
        "incomplete_max_output_tokens",
        [
            *rx.preamble(),
            *rx.message_events(["Cut"]),
            terminal(
                "response.incomplete",
                [rx.message_item("Cut")],
                incomplete_details={"reason": "max_output_tokens"},
            ),
        ],
        [
            TextDelta("Cut"),
            EXPECTED_USAGE,
            Completed(
                rx.RESPONSE_ID,
                rx.MODEL,
                "incomplete",
                "length",
                EXPECTED_USAGE,
                [rx.message_item("Cut")],
            ),
        ],
    ),
    (
        "incomplete_content_filter",
        [
            *rx.preamble(),
            terminal("response.incomplete", [], incomplete_details={"reason": "content_filter"}),
        ],
        [
            EXPECTED_USAGE,
            Completed(rx.RESPONSE_ID, rx.MODEL, "incomplete", "content_filter", EXPECTED_USAGE, []),
        ],
    ),
    (
        "response_failed",
        [
            *rx.preamble(),
            *rx.message_events(["Par"])[:3],
            terminal(
                "response.failed",
                [],
                error={"code": "server_error", "message": "Provider crashed"},
                error_type="server",
            ),
        ],
        [TextDelta("Par"), Failed("server_error", "Provider crashed", "server", rx.RESPONSE_ID)],
    ),
    (
        "error_event_flat",
        [
            *rx.preamble(),
            {"type": "error", "code": "rate_limit_exceeded", "message": "Slow down", "param": None},
        ],
        [Failed("rate_limit_exceeded", "Slow down", None, rx.RESPONSE_ID)],
    ),
    (
        "error_event_nested",
        [{"type": "error", "error": {"code": 502, "message": "Provider returned error"}}],
        [Failed("502", "Provider returned error", None, None)],
    ),
    (
        "stream_ended_without_completion",
        [*rx.preamble(), *rx.message_events(["Half"])[:3]],
        [
            TextDelta("Half"),
            Failed(STREAM_ENDED_WITHOUT_COMPLETION, rx.ANY_MESSAGE, None, rx.RESPONSE_ID),
        ],
    ),
]


@pytest.mark.parametrize(
    ("events", "expected"), [s[1:] for s in SCENARIOS], ids=[s[0] for s in SCENARIOS]
)
def test_scenario(events: list[dict[str, Any]], expected: list[TurnEvent]) -> None:
    assert run(events) == expected


def test_citations_are_deduplicated_by_url_across_sources() -> None:
    duplicate = rx.citation("https://a.example/x", "A again")
    events = [
        *rx.message_events(["x"], annotations=[CITES[0], duplicate]),
        terminal("response.completed", CITED_OUTPUT),
    ]
    citations = [e for e in run(events) if isinstance(e, Citation)]
    assert [(c.url, c.title, c.index) for c in citations] == [
        ("https://a.example/x", "A", 1),
        ("https://b.example", "B", 2),
    ]


def test_non_url_annotations_are_ignored() -> None:
    events = rx.message_events(["x"], annotations=[{"type": "file_citation", "file_id": "f"}])
    assert not [e for e in run(events, finish=False) if isinstance(e, Citation)]


def test_text_only_in_final_items_is_emitted_once() -> None:
    # A provider that streams no deltas: the text must still reach the user, exactly once.
    events = [
        {"type": "response.output_item.done", "output_index": 0, "item": rx.message_item("Whole")},
        terminal("response.completed", [rx.message_item("Whole")]),
    ]
    assert [e for e in run(events) if isinstance(e, TextDelta)] == [TextDelta("Whole")]


def test_reasoning_only_in_final_item_is_emitted() -> None:
    item = rx.anthropic_reasoning_item("Hidden until done")
    events = [{"type": "response.output_item.done", "output_index": 0, "item": item}]
    assert run(events, finish=False) == [ReasoningDelta("Hidden until done"), ReasoningItem(item)]


def test_reasoning_items_are_separated_by_blank_line() -> None:
    events = [
        *rx.anthropic_reasoning_events(["One."], item_id="rs_1"),
        *rx.anthropic_reasoning_events(["Two."], item_id="rs_2"),
    ]
    deltas = [e.text for e in run(events, finish=False) if isinstance(e, ReasoningDelta)]
    assert deltas == ["One.", "\n\nTwo."]


def test_tool_arguments_fall_back_to_arguments_done_event() -> None:
    events = rx.function_call_events(0, "f", ['{"a":1}'])
    events[-1] = {**events[-1], "item": {**events[-1]["item"], "arguments": ""}}
    [call] = run(events, finish=False)
    assert isinstance(call, ToolCallRequest)
    assert call.arguments_json == '{"a":1}'


def test_web_search_call_progress_events_give_one_running_status() -> None:
    events = [
        {"type": "response.web_search_call.in_progress", "item_id": "ws_9", "output_index": 0},
        {"type": "response.web_search_call.searching", "item_id": "ws_9", "output_index": 0},
        {"type": "response.web_search_call.completed", "item_id": "ws_9", "output_index": 0},
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {"id": "ws_9", "type": "web_search_call", "status": "completed"},
        },
    ]
    assert run(events, finish=False) == [
        Status("Searching the web…", done=False),
        Status("Searched the web", done=True),
    ]


def test_split_surrogate_pair_across_deltas_is_joined() -> None:
    events = rx.message_events(["smile \ud83d", "\ude00!"])
    texts = [e.text for e in run(events, finish=False) if isinstance(e, TextDelta)]
    assert texts == ["smile ", "😀!"]


def test_unknown_events_are_ignored_and_counted() -> None:
    translator = ResponsesStreamTranslator()
    assert translator.feed({"type": "response.fusion_call.thing", "sequence_number": 0}) == []
    assert translator.statistics().unknown_events == 1


def test_sequence_gaps_are_tolerated_and_counted() -> None:
    translator = ResponsesStreamTranslator()
    for number, delta in [(0, "a"), (1, "b"), (5, "c"), (6, "d")]:
        translator.feed(
            {"type": "response.output_text.delta", "delta": delta, "sequence_number": number}
        )
    assert translator.statistics().sequence_gaps == 1


def test_events_after_terminal_are_ignored_and_counted() -> None:
    translator = ResponsesStreamTranslator()
    translator.feed(terminal("response.completed", []))
    assert translator.finished
    assert translator.feed({"type": "error", "code": "x", "message": "late"}) == []
    assert translator.finish() == []
    assert translator.statistics().after_terminal == 1


def test_usage_parses_openrouter_extras() -> None:
    raw = {**rx.USAGE, "is_byok": True, "server_tool_use_details": {"web_search_requests": 2}}
    usage = usage_from_responses(raw)
    assert usage == Usage(9175, 277, 100, 135, 0.025706, 9172, 2, True)


def test_usage_tolerates_missing_details_and_null_cost() -> None:
    usage = usage_from_responses({"input_tokens": 3, "output_tokens": 4, "cost": None})
    assert usage == Usage(input_tokens=3, output_tokens=4)
