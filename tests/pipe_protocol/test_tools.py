"""Tools over the shim protocol: pipeline mode runs them in the shim (``tool_call`` /
``tool_result``); passthrough hands the model's calls back in ``done``."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import trio

from tests.pipe_protocol.conftest import open_shim, request_frame, run_request
from tests.service.conftest import Sidecar, wait_until

WEATHER_SPEC: dict[str, Any] = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


async def test_passthrough_returns_tool_calls_in_done(sidecar: Sidecar) -> None:
    request = request_frame(
        "sim/tool-call",
        tools=[{"name": "get_weather", "spec": WEATHER_SPEC}],
        valves={"TOOL_EXECUTION_MODE": "passthrough"},
    )
    session = await run_request(sidecar, request)
    done = session.last
    assert done["type"] == "done"
    assert done["finish_reason"] == "tool_calls"
    assert [call["name"] for call in done["tool_calls"]] == ["get_weather"]
    assert done["tool_calls"][0]["arguments"] == '{"city":"Paris"}'
    assert done["tool_calls"][0]["id"]


async def test_the_seed_open_webui_tool_mode_means_passthrough(sidecar: Sidecar) -> None:
    request = request_frame(
        "sim/tool-call",
        tools=[{"name": "get_weather", "spec": WEATHER_SPEC}],
        user_valves={"TOOL_EXECUTION_MODE": "Open-WebUI"},
    )
    done = (await run_request(sidecar, request)).last
    assert done["finish_reason"] == "tool_calls"


async def test_pipeline_mode_runs_the_tool_in_the_shim_and_continues(sidecar: Sidecar) -> None:
    request = request_frame("sim/tool-call", tools=[{"name": "get_weather", "spec": WEATHER_SPEC}])
    with trio.fail_after(10):
        async with open_shim(sidecar) as shim:
            await shim.hello()
            await shim.send(request)
            call = await shim.receive_until("tool_call")
            assert call["name"] == "get_weather"
            assert json.loads(call["arguments"]) == {"city": "Paris"}
            await shim.send({"type": "tool_result", "call_id": call["call_id"], "output": "18C"})
            session = await shim.until_closed()
    assert "Tool results: 18C" in session.text
    assert session.last["type"] == "done"
    assert session.last["finish_reason"] == "stop"
    assert session.last["tool_calls"] == []


async def test_pipeline_tool_call_is_cancelled_when_the_shim_leaves(sidecar: Sidecar) -> None:
    request = request_frame("sim/tool-call", tools=[{"name": "get_weather", "spec": WEATHER_SPEC}])
    with trio.fail_after(10):
        async with open_shim(sidecar) as shim:
            await shim.hello()
            await shim.send(request)
            await shim.receive_until("tool_call")
        await wait_until(lambda: sidecar.running.gateway.sessions.statistics().active == 0)
    assert sidecar.running.gateway.admission.statistics().running == 0


async def test_the_request_log_reports_the_tool_payload_size(
    sidecar: Sidecar, caplog: pytest.LogCaptureFixture
) -> None:
    request = request_frame(
        "sim/tool-call",
        tools=[{"name": "get_weather", "spec": WEATHER_SPEC}],
        valves={"TOOL_EXECUTION_MODE": "passthrough"},
    )
    with caplog.at_level(logging.INFO, logger="pipe_service.front.pipe.session"):
        await run_request(sidecar, request)
    record = next(r for r in caplog.records if r.getMessage() == "chat request")
    spec = {"type": "function", "function": WEATHER_SPEC}
    assert record.__dict__["tools"] == 1
    assert record.__dict__["tools_bytes"] == len(json.dumps([spec], separators=(",", ":")))


async def _pipeline_session(sidecar: Sidecar, **fields: Any) -> Any:
    request = request_frame(
        "sim/tool-call", tools=[{"name": "get_weather", "spec": WEATHER_SPEC}], **fields
    )
    with trio.fail_after(10):
        async with open_shim(sidecar) as shim:
            await shim.hello()
            await shim.send(request)
            call = await shim.receive_until("tool_call")
            await shim.send({"type": "tool_result", "call_id": call["call_id"], "output": "18C"})
            return await shim.until_closed()


async def test_show_tool_cards_puts_a_card_in_the_answer(sidecar: Sidecar) -> None:
    session = await _pipeline_session(sidecar, valves={"SHOW_TOOL_CARDS": True})
    assert '<details type="tool_calls" done="true"' in session.text
    assert 'name="get_weather"' in session.text
    assert session.text.index("<details") < session.text.index("Tool results: 18C")


async def test_tool_cards_are_off_by_default(sidecar: Sidecar) -> None:
    session = await _pipeline_session(sidecar)
    assert "<details" not in session.text


async def test_a_user_may_turn_tool_cards_on_for_themselves(sidecar: Sidecar) -> None:
    session = await _pipeline_session(sidecar, user_valves={"SHOW_TOOL_CARDS": True})
    assert 'name="get_weather"' in session.text
