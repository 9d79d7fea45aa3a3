"""Shutdown with a stalled stream open, and catalog models that act by their capabilities."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import httpx
import trio

from pipe_service.simulator import SimulatorConfig, serve_simulator
from tests.simulator.conftest import StartSimulator, read_sse, weather_tool


async def test_stall_stream_drops_when_server_stops() -> None:
    stop = trio.Event()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            serve = partial(
                serve_simulator,
                SimulatorConfig(),
                binds=["127.0.0.1:0"],
                shutdown_trigger=stop.wait,
            )
            root = (await nursery.start(serve))[0]
            headers = {"Authorization": "Bearer sk-or-1"}
            async with httpx.AsyncClient(base_url=f"{root}/api/v1", headers=headers) as http:
                body = {"model": "sim/stall", "input": "hi", "stream": True}
                async with http.stream("POST", "/responses", json=body) as reply:
                    lines = reply.aiter_lines()
                    seen = []
                    async for line in lines:
                        seen.append(line)
                        if "response.in_progress" in line:
                            stop.set()
                            break
                    try:
                        rest = [line async for line in lines]
                    except httpx.RemoteProtocolError:
                        rest = ["<dropped>"]
    assert any("response.created" in line for line in seen)
    assert rest in (["", "<dropped>"], ["<dropped>"])


CATALOG = [
    {"id": "anthropic/thinker", "supported_parameters": ["reasoning", "tools"]},
    {"id": "openai/thinker", "supported_parameters": ["reasoning"]},
    {"id": "plain/model", "supported_parameters": ["temperature"]},
]


async def _catalog_client(start_simulator: StartSimulator, tmp_path: Path) -> httpx.AsyncClient:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"data": CATALOG}))
    root = await start_simulator(catalog_path=path)
    return httpx.AsyncClient(base_url=f"{root}/api/v1", headers={"Authorization": "Bearer sk-or-1"})


async def test_reasoning_catalog_model_reasons_then_calls_tool(
    start_simulator: StartSimulator, tmp_path: Path
) -> None:
    async with await _catalog_client(start_simulator, tmp_path) as http:
        with trio.fail_after(10):
            body = {"model": "anthropic/thinker", "input": "hi", "tools": [weather_tool()]}
            stream = await read_sse(http, body)
    output = stream.terminal["response"]["output"]
    assert [item["type"] for item in output] == ["reasoning", "function_call"]
    assert output[0]["format"] == "anthropic-claude-v1"


async def test_openai_catalog_model_reasons_encrypted(
    start_simulator: StartSimulator, tmp_path: Path
) -> None:
    async with await _catalog_client(start_simulator, tmp_path) as http:
        with trio.fail_after(10):
            stream = await read_sse(http, {"model": "openai/thinker", "input": "hi"})
    output = stream.terminal["response"]["output"]
    assert [item["type"] for item in output] == ["reasoning", "message"]
    assert output[0]["encrypted_content"].startswith("gAAAA")


async def test_plain_catalog_model_answers_text_despite_tools(
    start_simulator: StartSimulator, tmp_path: Path
) -> None:
    async with await _catalog_client(start_simulator, tmp_path) as http:
        with trio.fail_after(10):
            body = {"model": "plain/model", "input": "hi", "tools": [weather_tool()]}
            stream = await read_sse(http, body)
    assert [item["type"] for item in stream.terminal["response"]["output"]] == ["message"]


async def test_sim_models_stay_callable_with_a_custom_catalog(
    start_simulator: StartSimulator, tmp_path: Path
) -> None:
    async with await _catalog_client(start_simulator, tmp_path) as http:
        with trio.fail_after(10):
            reply = await http.post("/responses", json={"model": "sim/error-503", "input": "x"})
    assert reply.status_code == 503
