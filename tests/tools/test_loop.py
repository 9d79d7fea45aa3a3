"""The function-call loop through ``run_turn``, against a scripted in-memory upstream.

Every test scripts the upstream runs (Responses event streams replayed as SSE bytes), runs one
turn with an in-memory executor, and checks what the renderer got and what the loop sent
upstream on each run.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import trio
import trio.testing

from pipe_service.chat.events import (
    Citation,
    Completed,
    Failed,
    ReasoningItem,
    Status,
    TextDelta,
    ToolCallRequest,
)
from pipe_service.chat.tool_loop import TOOL_EXECUTOR_GONE
from pipe_service.chat.turn_request import TurnError, TurnOutput, TurnRequest
from pipe_service.openrouter.errors import UpstreamError, UpstreamErrorKind
from pipe_service.openrouter.usage import Usage
from pipe_service.tools.contract import (
    ToolContext,
    ToolExecutorGoneError,
    ToolInvocation,
    ToolOutcome,
)
from pipe_service.tools.runner import ToolRunner
from pipe_service.tools.settings import ToolSettings
from pipe_service.transform.options import TransformOptions
from tests.tools.fakes import (
    RecordingExecutor,
    ScriptedUpstream,
    calls_script,
    collect_turn,
    message_item,
    run_script,
    sleeping,
    text_script,
)
from tests.transform.models import FULL

WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
TIME = {"name": "get_time", "parameters": {"type": "object", "properties": {}}}


def turn(
    executor: Any,
    *,
    specs: list[dict[str, Any]] | None = None,
    stream: bool = True,
    passthrough: bool = False,
    **body: Any,
) -> TurnRequest:
    return TurnRequest(
        body={"messages": [{"role": "user", "content": "Weather in Paris?"}], **body},
        model=FULL,
        stream=stream,
        options=TransformOptions(),
        tools=ToolContext(
            executor=executor,
            specs=[WEATHER] if specs is None else specs,
            passthrough=passthrough,
            user_id="u1",
        ),
    )


def tools(**settings: Any) -> ToolRunner:
    return ToolRunner(ToolSettings(**settings))


def of_type(events: list[TurnOutput], kind: type[Any]) -> list[Any]:
    return [event for event in events if isinstance(event, kind)]


def text(events: list[TurnOutput]) -> str:
    return "".join(event.text for event in of_type(events, TextDelta))


async def test_tool_results_go_back_to_the_model() -> None:
    upstream = ScriptedUpstream(
        calls_script(("call_1", "get_weather", '{"city":"Paris"}')), text_script("Sunny.")
    )
    executor = RecordingExecutor()
    events = await collect_turn(turn(executor), upstream, tools())
    assert text(events) == "Sunny."
    assert executor.invocations == [
        ToolInvocation("call_1", "get_weather", '{"city":"Paris"}', "u1", spec_index=0)
    ]
    second_input = upstream.payloads[1]["input"]
    assert second_input[-2]["type"] == "function_call"
    assert second_input[-1] == {
        "type": "function_call_output",
        "call_id": "call_1",
        "output": 'get_weather:{"city":"Paris"}',
    }


async def test_pipeline_mode_hides_tool_calls_from_the_renderer() -> None:
    upstream = ScriptedUpstream(calls_script(("c1", "get_weather", "{}")), text_script("Done."))
    events = await collect_turn(turn(RecordingExecutor()), upstream, tools())
    assert of_type(events, ToolCallRequest) == []
    [completed] = of_type(events, Completed)
    assert completed.finish_reason == "stop"
    assert isinstance(events[-1], Completed)


async def test_each_round_is_bracketed_by_status_lines() -> None:
    upstream = ScriptedUpstream(
        calls_script(("c1", "get_weather", "{}"), ("c2", "get_time", "{}")), text_script("ok")
    )
    events = await collect_turn(turn(RecordingExecutor(), specs=[WEATHER, TIME]), upstream, tools())
    assert of_type(events, Status) == [
        Status("Running get_weather, get_time…", done=False),
        Status("Ran get_weather, get_time", done=True),
    ]


async def test_usage_is_summed_across_runs() -> None:
    upstream = ScriptedUpstream(calls_script(("c1", "get_weather", "{}")), text_script("ok"))
    events = await collect_turn(turn(RecordingExecutor()), upstream, tools())
    expected = Usage(
        input_tokens=200, output_tokens=40, cached_tokens=20, reasoning_tokens=10, cost=1.0
    )
    [completed] = of_type(events, Completed)
    assert completed.usage == expected
    assert of_type(events, Usage) == [expected]


async def test_reasoning_items_are_replayed_before_the_calls_in_order() -> None:
    upstream = ScriptedUpstream(
        calls_script(("c1", "get_weather", "{}"), reasoning="Need the weather."),
        text_script("ok"),
    )
    events = await collect_turn(turn(RecordingExecutor()), upstream, tools())
    appended = upstream.payloads[1]["input"][1:]
    assert [item["type"] for item in appended] == [
        "reasoning",
        "function_call",
        "function_call_output",
    ]
    assert appended[0]["signature"] == "c2ln"
    assert len(of_type(events, ReasoningItem)) == 1


async def test_text_of_every_run_reaches_the_user() -> None:
    first = run_script(
        message_item("msg_1", "Let me check. "),
        {"id": "fc_c1", "type": "function_call", "status": "completed", "call_id": "c1",
         "name": "get_weather", "arguments": "{}"},
    )  # fmt: skip
    upstream = ScriptedUpstream(first, text_script("Sunny."))
    events = await collect_turn(turn(RecordingExecutor()), upstream, tools())
    assert text(events) == "Let me check. Sunny."
    assert [item["type"] for item in upstream.payloads[1]["input"][1:]] == [
        "message",
        "function_call",
        "function_call_output",
    ]


async def test_loop_limit_ends_with_a_final_run_without_tools() -> None:
    upstream = ScriptedUpstream(
        calls_script(("c1", "get_weather", "{}")),
        calls_script(("c2", "get_weather", "{}")),
        text_script("Best guess: sunny."),
    )
    executor = RecordingExecutor()
    events = await collect_turn(turn(executor), upstream, tools(max_function_call_loops=2))
    assert len(executor.started) == 2
    assert [payload.get("tool_choice") for payload in upstream.payloads] == [None, None, "none"]
    assert Status("Tool limit reached (2 rounds); answering without tools", True) in events
    assert text(events) == "Best guess: sunny."


async def test_calls_of_the_final_run_are_not_run() -> None:
    upstream = ScriptedUpstream(
        calls_script(("c1", "get_weather", "{}")), calls_script(("c2", "get_weather", "{}"))
    )
    executor = RecordingExecutor()
    events = await collect_turn(turn(executor), upstream, tools(max_function_call_loops=1))
    assert len(executor.started) == 1
    assert Status("Tool limit reached: 1 more tool call(s) not run", True) in events
    [completed] = of_type(events, Completed)
    assert completed.finish_reason == "stop"


async def test_tool_error_is_sent_to_the_model_as_output() -> None:
    async def broken(invocation: ToolInvocation) -> ToolOutcome:
        raise RuntimeError("API quota exhausted")

    upstream = ScriptedUpstream(calls_script(("c1", "get_weather", "{}")), text_script("Sorry."))
    events = await collect_turn(turn(RecordingExecutor(broken)), upstream, tools())
    output = upstream.payloads[1]["input"][-1]["output"]
    assert output == "Error: tool get_weather failed: RuntimeError: API quota exhausted"
    assert Status("Ran get_weather (1 failed)", done=True) in events
    assert text(events) == "Sorry."


async def test_hanging_tool_times_out_and_the_turn_goes_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    upstream = ScriptedUpstream(calls_script(("c1", "get_weather", "{}")), text_script("Late."))
    events = await collect_turn(
        turn(RecordingExecutor(sleeping(999))), upstream, tools(per_call_timeout_s=10)
    )
    assert upstream.payloads[1]["input"][-1]["output"] == (
        "Error: tool get_weather timed out after 10 s"
    )
    assert trio.current_time() == 10
    assert text(events) == "Late."


async def test_executor_gone_mid_tool_ends_the_turn(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def shim_leaves(invocation: ToolInvocation) -> ToolOutcome:
        await trio.sleep(2)
        raise ToolExecutorGoneError("websocket closed")

    upstream = ScriptedUpstream(calls_script(("c1", "get_weather", "{}")))
    events = await collect_turn(turn(RecordingExecutor(shim_leaves)), upstream, tools())
    assert len(upstream.payloads) == 1
    failed = events[-1]
    assert isinstance(failed, Failed)
    assert failed.code == TOOL_EXECUTOR_GONE
    assert of_type(events, Completed) == []


async def test_unknown_tool_is_answered_without_running_anything() -> None:
    upstream = ScriptedUpstream(calls_script(("c1", "launch_rocket", "{}")), text_script("ok"))
    executor = RecordingExecutor()
    await collect_turn(turn(executor), upstream, tools())
    assert executor.started == []
    assert upstream.payloads[1]["input"][-1]["output"] == (
        "Error: unknown tool 'launch_rocket'; the tools offered are: get_weather"
    )


async def test_tools_sharing_a_name_are_told_apart() -> None:
    other_weather = {**WEATHER, "description": "Weather from another server"}
    upstream = ScriptedUpstream(calls_script(("c1", "get_weather_2", "{}")), text_script("ok"))
    executor = RecordingExecutor()
    await collect_turn(turn(executor, specs=[WEATHER, other_weather]), upstream, tools())
    names = [tool["name"] for tool in upstream.payloads[0]["tools"]]
    assert names == ["get_weather", "get_weather_2"]
    [invocation] = executor.invocations
    assert (invocation.name, invocation.spec_index) == ("get_weather", 1)


async def test_offered_tools_are_strict_and_replace_the_body_tools() -> None:
    body_tool = {"type": "function", "function": {"name": "client_only", "parameters": {}}}
    upstream = ScriptedUpstream(text_script("ok"))
    await collect_turn(turn(RecordingExecutor(), tools=[body_tool]), upstream, tools())
    [tool] = upstream.payloads[0]["tools"]
    assert tool["name"] == "get_weather"
    assert tool["strict"] is True
    assert tool["parameters"]["additionalProperties"] is False


async def test_strict_schemas_can_be_switched_off() -> None:
    upstream = ScriptedUpstream(text_script("ok"))
    await collect_turn(turn(RecordingExecutor()), upstream, tools(strict_schemas=False))
    assert upstream.payloads[0]["tools"][0]["strict"] is False


async def test_non_streaming_turn_runs_the_loop_too() -> None:
    upstream = ScriptedUpstream(calls_script(("c1", "get_weather", "{}")), text_script("Sunny."))
    executor = RecordingExecutor()
    events = await collect_turn(turn(executor, stream=False), upstream, tools())
    assert len(executor.started) == 1
    assert text(events) == "Sunny."
    assert upstream.payloads[1]["stream"] is False


async def test_upstream_error_after_a_round_is_a_failure_not_a_turn_error() -> None:
    error = UpstreamError(UpstreamErrorKind.SERVER_ERROR, "provider down", status=502)
    upstream = ScriptedUpstream(calls_script(("c1", "get_weather", "{}")), error)
    events = await collect_turn(turn(RecordingExecutor()), upstream, tools())
    assert of_type(events, TurnError) == []
    assert isinstance(events[-1], Failed)
    assert events[-1].message == "provider down"


async def test_upstream_error_before_any_output_stays_a_turn_error() -> None:
    error = UpstreamError(UpstreamErrorKind.SERVER_ERROR, "provider down", status=502)
    events = await collect_turn(turn(RecordingExecutor()), ScriptedUpstream(error), tools())
    assert len(events) == 1
    assert isinstance(events[0], TurnError)


async def test_passthrough_hands_calls_to_the_client_and_runs_nothing() -> None:
    upstream = ScriptedUpstream(calls_script(("c1", "get_weather", '{"city":"Paris"}')))
    executor = RecordingExecutor()
    events = await collect_turn(
        turn(executor, passthrough=True, tools=[{"type": "function", "function": WEATHER}]),
        upstream,
        tools(),
    )
    assert of_type(events, ToolCallRequest) == [
        ToolCallRequest("c1", "get_weather", '{"city":"Paris"}', "fc_c1", 0)
    ]
    assert executor.started == []
    assert len(upstream.payloads) == 1
    [completed] = of_type(events, Completed)
    assert completed.finish_reason == "tool_calls"


async def test_citations_are_numbered_across_runs() -> None:
    def cited(url: str) -> dict[str, Any]:
        return {"type": "url_citation", "url": url, "title": url, "start_index": 0, "end_index": 1}

    first = run_script(
        message_item("msg_1", "a", [cited("https://a.example")]),
        {"id": "fc_c1", "type": "function_call", "status": "completed", "call_id": "c1",
         "name": "get_weather", "arguments": "{}"},
    )  # fmt: skip
    second = run_script(
        message_item("msg_2", "b", [cited("https://a.example"), cited("https://b.example")])
    )
    events = await collect_turn(turn(RecordingExecutor()), ScriptedUpstream(first, second), tools())
    assert [(c.url, c.index) for c in of_type(events, Citation)] == [
        ("https://a.example", 1),
        ("https://b.example", 2),
    ]


async def test_each_round_is_handed_to_the_on_tool_round_hook_before_the_next_run() -> None:
    rounds: list[list[str]] = []
    upstream = ScriptedUpstream(
        calls_script(("c1", "get_weather", "{}"), reasoning="Need the weather."),
        text_script("ok"),
    )

    async def on_round(items: list[dict[str, Any]]) -> None:
        assert len(upstream.payloads) == 1  # before the next run starts
        rounds.append([item["type"] for item in items])

    request = dataclasses.replace(turn(RecordingExecutor()), on_tool_round=on_round)
    await collect_turn(request, upstream, tools())
    assert rounds == [["reasoning", "function_call", "function_call_output"]]
