"""Tools: the sidecar's tool loop runs Open WebUI's ``__tools__`` through the shim (pipeline),
or hands the calls to Open WebUI's native loop as ``tool_calls`` chunks (passthrough)."""

from __future__ import annotations

import asyncio
import types
from typing import Any

from tests.service.conftest import Sidecar
from tests.shim.conftest import uds_address
from tests.shim.harness import OwuiSide, chat_body, run_shim, streamed_text

WEATHER_SPEC = {
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
TIME_SPEC = {
    "name": "get_time",
    "description": "Local time in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def _tool(fn: Any, spec: dict[str, Any]) -> dict[str, Any]:
    return {"tool_id": "test", "callable": fn, "spec": spec, "metadata": {}}


async def test_pipeline_runs_the_tool_and_the_model_sees_its_result(
    shim: types.ModuleType, uds_pipe: Any, sidecar: Sidecar
) -> None:
    seen: list[dict[str, Any]] = []

    async def get_weather(city: str) -> dict[str, Any]:
        seen.append({"city": city})
        return {"city": city, "temp_c": 21}

    owui = OwuiSide(tools={"get_weather": _tool(get_weather, WEATHER_SPEC)})
    items = await run_shim(lambda: owui.invoke(uds_pipe, chat_body(shim, "sim/tool-call")))
    assert seen == [{"city": "Paris"}]
    assert streamed_text(items).startswith('Tool results: {"city": "Paris", "temp_c": 21}.')


async def test_pipeline_runs_parallel_calls_concurrently(
    shim: types.ModuleType, uds_pipe: Any, sidecar: Sidecar
) -> None:
    started: dict[str, asyncio.Event] = {}

    def rendezvous(me: str, other: str) -> Any:
        async def tool(city: str) -> str:
            started.setdefault(me, asyncio.Event()).set()
            # Returns only once the other call runs too: sequential execution would time out.
            await asyncio.wait_for(started.setdefault(other, asyncio.Event()).wait(), 5)
            return f"{me} ok"

        return tool

    owui = OwuiSide(
        tools={
            "get_weather": _tool(rendezvous("weather", "time"), WEATHER_SPEC),
            "get_time": _tool(rendezvous("time", "weather"), TIME_SPEC),
        }
    )
    items = await run_shim(lambda: owui.invoke(uds_pipe, chat_body(shim, "sim/tool-call")))
    assert streamed_text(items).startswith("Tool results: weather ok; time ok.")


async def test_a_failing_tool_reports_its_error_to_the_model(
    shim: types.ModuleType, uds_pipe: Any, sidecar: Sidecar
) -> None:
    async def get_weather(city: str) -> str:
        raise RuntimeError(f"no station in {city}")

    owui = OwuiSide(tools={"get_weather": _tool(get_weather, WEATHER_SPEC)})
    items = await run_shim(lambda: owui.invoke(uds_pipe, chat_body(shim, "sim/tool-call")))
    assert "no station in Paris" in streamed_text(items)


async def test_a_sync_tool_returning_a_list_is_sent_as_json(
    shim: types.ModuleType, uds_pipe: Any, sidecar: Sidecar
) -> None:
    def get_weather(city: str) -> list[str]:
        return [city, "sunny"]

    owui = OwuiSide(tools={"get_weather": _tool(get_weather, WEATHER_SPEC)})
    items = await run_shim(lambda: owui.invoke(uds_pipe, chat_body(shim, "sim/tool-call")))
    assert streamed_text(items).startswith('Tool results: ["Paris", "sunny"].')


async def test_passthrough_yields_tool_call_chunks_for_open_webui(
    shim: types.ModuleType, uds_pipe: Any, sidecar: Sidecar
) -> None:
    uds_pipe.valves = shim.Pipe.Valves(
        SIDECAR_ADDRESSES=uds_address(sidecar), TOOL_EXECUTION_MODE="passthrough"
    )
    called: list[str] = []

    async def get_weather(city: str) -> str:
        called.append(city)
        return "never"

    owui = OwuiSide(tools={"get_weather": _tool(get_weather, WEATHER_SPEC)})
    items = await run_shim(lambda: owui.invoke(uds_pipe, chat_body(shim, "sim/tool-call")))
    assert called == []
    calls_chunk, finish_chunk = items[-2:]
    (call,) = calls_chunk["choices"][0]["delta"]["tool_calls"]
    assert call["index"] == 0
    assert call["id"].startswith("call_")
    assert call["type"] == "function"
    assert call["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    assert finish_chunk["choices"][0]["finish_reason"] == "tool_calls"
