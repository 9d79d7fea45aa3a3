"""``pipe-service reload`` on a real ``pipe-service serve`` process while streams run.

The promise of issue 10: a live setting changes with ``pipe-service reload`` (the operator's
command, its own process) under load and no stream is dropped. Four chat streams run through
the built-in simulator, paced so they are still running when the configuration file changes and
the command runs; every stream then ends with its whole answer and ``[DONE]``, those requests
went upstream with the old reasoning effort, and a request made after the reload carries the
new one (read back from the simulator's request log on its private socket).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import trio

from tests.process.test_serve_process import _env, serve

STREAMS = 4
# Paced deltas: each stream lasts ~10 s, longer than starting the reload command takes on a
# loaded host (a stream that ends after the command returned was running when it applied).
DELTA_DELAY_S = "0.4"
MODEL = "sim/reasoning"


def _config(effort: str) -> str:
    return f'[chat]\nreasoning_effort = "{effort}"\n'


async def _stream(
    client: httpx.AsyncClient, started: trio.Event, finished: list[tuple[float, str]]
) -> None:
    body = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    text = ""
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        async for chunk in response.aiter_text():
            text += chunk
            if '"content"' in text:
                started.set()
    finished.append((trio.current_time(), text))


async def _reload(env: dict[str, str], config: Path) -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-m", "pipe_service", "--config", str(config), "reload"]
    return await trio.run_process(command, env=env, capture_stdout=True, capture_stderr=True)


def _sim_requests(var_dir: Path) -> list[dict[str, Any]]:
    transport = httpx.HTTPTransport(uds=str(var_dir / "simulator.sock"))
    with httpx.Client(transport=transport, base_url="http://simulator", timeout=10) as client:
        records: list[dict[str, Any]] = client.get("/_sim/requests").json()["data"]
    return records


def _efforts(var_dir: Path) -> list[str]:
    return [record["body"]["reasoning"]["effort"] for record in _sim_requests(var_dir)]


async def test_reload_under_load_changes_a_live_setting_and_drops_no_stream(
    tmp_path: Path,
) -> None:
    config = tmp_path / "pipe-service.toml"
    config.write_text(_config("low"))
    extra = {
        "PIPE_SERVICE_CONFIG": str(config),
        "PIPE_SERVICE_UPSTREAM_MODE": "simulator",
        "PIPE_SERVICE_SIMULATOR_REQUEST_LOG": "50",
        "PIPE_SERVICE_SIMULATOR_INTER_DELTA_DELAY_S": DELTA_DELAY_S,
    }
    finished: list[tuple[float, str]] = []
    with trio.fail_after(90):
        async with serve(tmp_path, **extra) as service:
            await service.wait_for_log("serving on")
            async with service.client() as client:
                client.timeout = httpx.Timeout(60)
                async with trio.open_nursery() as nursery:
                    started = [trio.Event() for _ in range(STREAMS)]
                    for event in started:
                        nursery.start_soon(_stream, client, event, finished)
                    for event in started:
                        await event.wait()
                    config.write_text(_config("high"))
                    reloaded = await _reload(_env(tmp_path, **extra), config)
                    reloaded_at = trio.current_time()
                    in_flight = STREAMS - len(finished)
                assert reloaded.returncode == 0, reloaded.stderr
                assert b"applied: chat.reasoning_effort" in reloaded.stdout
                after = await client.post(
                    "/v1/chat/completions",
                    json={"model": MODEL, "messages": [{"role": "user", "content": "again"}]},
                )
            assert after.status_code == 200
            efforts = await trio.to_thread.run_sync(_efforts, tmp_path)
            service.process.terminate()
            await service.process.wait()
    # The reload happened while every stream was still running, and none was cut short.
    assert in_flight == STREAMS
    assert len(finished) == STREAMS
    assert all(done_at > reloaded_at for done_at, _ in finished)
    for _, text in finished:
        events = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        chunks = [json.loads(event) for event in events[:-1]]
        assert not [chunk for chunk in chunks if "error" in chunk]
        reasons = [c.get("finish_reason") for chunk in chunks for c in chunk.get("choices", [])]
        assert "stop" in reasons
    # The streams went upstream with the old value; the request after the reload, the new one.
    assert efforts == ["low"] * STREAMS + ["high"]
