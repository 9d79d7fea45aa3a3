"""Passthrough mode's next turn: Open WebUI resends the calls and results as messages.

Open WebUI's native loop (reference open-webui-0.12 A4) calls the pipe again with
``assistant.tool_calls`` and ``tool`` messages; they must become paired ``function_call`` and
``function_call_output`` items in order.
"""

from __future__ import annotations

from typing import Any

from pipe_service.transform.payload import TransformOptions, build_responses_payload
from tests.transform.models import FULL


def owui_history() -> list[dict[str, Any]]:
    def call(call_id: str, city: str) -> dict[str, Any]:
        arguments = f'{{"city":"{city}"}}'
        function = {"name": "get_weather", "arguments": arguments}
        return {"index": 0, "id": call_id, "type": "function", "function": function}

    return [
        {"role": "user", "content": "Weather in Paris and Oslo?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [call("c1", "Paris"), call("c2", "Oslo")],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "c2", "content": "snow"},
    ]


def test_parallel_calls_and_their_results_become_paired_items() -> None:
    payload = build_responses_payload(
        {"messages": owui_history()}, model=FULL, options=TransformOptions()
    )
    items = payload["input"][1:]
    assert [(item["type"], item["call_id"]) for item in items] == [
        ("function_call", "c1"),
        ("function_call", "c2"),
        ("function_call_output", "c1"),
        ("function_call_output", "c2"),
    ]
    assert items[0]["arguments"] == '{"city":"Paris"}'
    assert items[0]["id"].startswith("fc_")
    assert items[3]["output"] == "snow"


def test_text_part_tool_results_are_joined() -> None:
    messages = owui_history()
    messages[2]["content"] = [{"type": "text", "text": "sunny"}, {"type": "text", "text": "21C"}]
    payload = build_responses_payload(
        {"messages": messages}, model=FULL, options=TransformOptions()
    )
    assert payload["input"][3]["output"] == "sunny\n21C"
