"""The tool loop end to end: the whole sidecar, the simulator's ``sim/tool-call`` model.

The simulator calls the request's first tool(s) and, once the input holds
``function_call_output`` items, answers ``Tool results: <outputs>.`` — so the answer proves the
loop ran the tool and sent its output back upstream, over real sockets.
"""

from __future__ import annotations

from typing import Any

import trio

from pipe_service.chat.events import Completed, Failed, Status, TextDelta, ToolCallRequest
from pipe_service.chat.turn_request import TurnOutput
from pipe_service.tools.contract import (
    ToolContext,
    ToolExecutorGoneError,
    ToolInvocation,
    ToolOutcome,
)
from tests.service.conftest import Sidecar, wait_until
from tests.tools.fakes import RecordingExecutor

WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
TIME = {"name": "get_time", "parameters": {"type": "object", "properties": {}}}
BODY = {"messages": [{"role": "user", "content": "Weather in Paris?"}], "stream": True}


async def forecast(invocation: ToolInvocation) -> ToolOutcome:
    return ToolOutcome(invocation.call_id, output=f"{invocation.name} says 18C")


async def run(sidecar: Sidecar, tools: ToolContext) -> list[TurnOutput]:
    with trio.fail_after(20):
        await wait_until(lambda: sidecar.running.catalog.loaded)
        gateway = sidecar.running.gateway
        model = gateway.resolve_model("sim/tool-call")
        async with gateway.open_turn(BODY, model=model, stream=True, tools=tools) as handle:
            return [event async for event in handle]


def answer(events: list[TurnOutput]) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))


async def test_tool_runs_and_its_output_reaches_the_answer(sidecar: Sidecar) -> None:
    executor = RecordingExecutor(forecast)
    events = await run(sidecar, ToolContext(executor=executor, specs=[WEATHER]))
    assert [invocation.name for invocation in executor.invocations] == ["get_weather"]
    assert executor.invocations[0].arguments_json == '{"city":"Paris"}'
    assert "Tool results: get_weather says 18C." in answer(events)
    assert isinstance(events[-1], Completed)
    assert events[-1].finish_reason == "stop"


async def test_parallel_calls_both_run(sidecar: Sidecar) -> None:
    executor = RecordingExecutor(forecast)
    events = await run(sidecar, ToolContext(executor=executor, specs=[WEATHER, TIME]))
    assert sorted(invocation.name for invocation in executor.invocations) == [
        "get_time",
        "get_weather",
    ]
    assert Status("Ran get_weather, get_time", done=True) in events


async def test_usage_covers_both_runs(sidecar: Sidecar) -> None:
    events = await run(sidecar, ToolContext(executor=RecordingExecutor(forecast), specs=[WEATHER]))
    completed = events[-1]
    assert isinstance(completed, Completed)
    assert completed.usage is not None
    output_types = [item["type"] for item in completed.output_items]
    assert output_types[:2] == ["function_call", "function_call_output"]
    assert completed.usage.input_tokens > 0


async def test_passthrough_returns_the_call_and_runs_nothing(sidecar: Sidecar) -> None:
    executor = RecordingExecutor(forecast)
    body_tools = [{"type": "function", "function": WEATHER}]
    with trio.fail_after(20):
        await wait_until(lambda: sidecar.running.catalog.loaded)
        gateway = sidecar.running.gateway
        model = gateway.resolve_model("sim/tool-call")
        tools = ToolContext(executor=executor, specs=[WEATHER], passthrough=True)
        async with gateway.open_turn(
            {**BODY, "tools": body_tools}, model=model, stream=True, tools=tools
        ) as handle:
            events: list[Any] = [event async for event in handle]
    calls = [event for event in events if isinstance(event, ToolCallRequest)]
    assert [call.name for call in calls] == ["get_weather"]
    assert executor.started == []
    assert events[-1].finish_reason == "tool_calls"


async def test_shim_leaving_mid_tool_ends_the_turn(sidecar: Sidecar) -> None:
    async def gone(invocation: ToolInvocation) -> ToolOutcome:
        raise ToolExecutorGoneError("websocket closed")

    events = await run(sidecar, ToolContext(executor=RecordingExecutor(gone), specs=[WEATHER]))
    assert isinstance(events[-1], Failed)
    assert events[-1].code == "tool_executor_gone"
