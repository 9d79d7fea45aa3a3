"""OpenRouter server tools (web search) inside the loop: never executed here, cited as sources."""

from __future__ import annotations

import dataclasses
from typing import Any

from pipe_service.chat.events import Citation, Status
from pipe_service.chat.turn_request import TurnRequest
from pipe_service.tools.contract import ToolContext
from pipe_service.tools.runner import ToolRunner
from pipe_service.tools.settings import ToolSettings
from pipe_service.transform.options import TransformOptions
from tests.tools.fakes import (
    RecordingExecutor,
    ScriptedUpstream,
    call_item,
    collect_turn,
    message_item,
    run_script,
    text_script,
)
from tests.transform.models import FULL

WEATHER = {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}
SOURCE = {
    "type": "url_citation",
    "url": "https://trio.readthedocs.io/",
    "title": "Trio docs",
    "start_index": 0,
    "end_index": 4,
    "content": "Trio: a friendly Python library for async concurrency",
}


def web_search_item(query: str = "trio nurseries") -> dict[str, Any]:
    return {
        "id": "ws_1",
        "type": "openrouter:web_search",
        "status": "completed",
        "action": {"type": "search", "query": query, "sources": []},
    }


def turn(executor: RecordingExecutor) -> TurnRequest:
    return TurnRequest(
        body={"messages": [{"role": "user", "content": "What is a nursery?"}]},
        model=FULL,
        stream=True,
        options=TransformOptions(web_search_enabled=True),
        tools=ToolContext(executor=executor, specs=[WEATHER]),
    )


async def test_web_search_tool_is_offered_next_to_function_tools() -> None:
    upstream = ScriptedUpstream(text_script("ok"))
    await collect_turn(turn(RecordingExecutor()), upstream, ToolRunner(ToolSettings()))
    assert [tool["type"] for tool in upstream.payloads[0]["tools"]] == [
        "function",
        "openrouter:web_search",
    ]


async def test_web_search_item_is_not_run_as_a_function_call() -> None:
    upstream = ScriptedUpstream(
        run_script(web_search_item(), message_item("msg_1", "A nursery is…", [SOURCE]))
    )
    executor = RecordingExecutor()
    events = await collect_turn(turn(executor), upstream, ToolRunner(ToolSettings()))
    assert executor.started == []
    assert len(upstream.payloads) == 1
    assert [c.url for c in events if isinstance(c, Citation)] == ["https://trio.readthedocs.io/"]


async def test_web_search_status_names_the_query() -> None:
    upstream = ScriptedUpstream(run_script(web_search_item(), message_item("msg_1", "ok")))
    events = await collect_turn(turn(RecordingExecutor()), upstream, ToolRunner(ToolSettings()))
    statuses = [event for event in events if isinstance(event, Status)]
    assert statuses == [
        Status("Searching the web…", done=False),
        Status("Searched the web: trio nurseries", done=True),
    ]


async def test_web_search_items_are_not_replayed_with_the_tool_results() -> None:
    upstream = ScriptedUpstream(
        run_script(web_search_item(), call_item("c1", "get_weather", "{}")), text_script("ok")
    )
    executor = RecordingExecutor()
    await collect_turn(turn(executor), upstream, ToolRunner(ToolSettings()))
    assert [invocation.name for invocation in executor.invocations] == ["get_weather"]
    appended = upstream.payloads[1]["input"][1:]
    assert [item["type"] for item in appended] == ["function_call", "function_call_output"]


async def test_citations_of_a_tool_turn_are_sources_of_the_answer() -> None:
    first = run_script(web_search_item(), call_item("c1", "get_weather", "{}"))
    second = run_script(message_item("msg_2", "Sunny, see docs.", [SOURCE]))
    events = await collect_turn(
        turn(RecordingExecutor()), ScriptedUpstream(first, second), ToolRunner(ToolSettings())
    )
    [citation] = [event for event in events if isinstance(event, Citation)]
    assert dataclasses.astuple(citation)[1:] == ("Trio docs", SOURCE["content"], 1)
