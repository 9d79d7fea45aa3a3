"""When the sidecar stops, a chat still running is cut with a clear notice before the front
closes its connection — not dropped mid-answer."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
import trio.testing

from tests.pipe_protocol.conftest import open_shim, request_frame
from tests.service.conftest import Sidecar, wait_until

STALL_BODY = {"model": "sim/stall", "stream": True, "messages": [{"role": "user", "content": "x"}]}


@pytest.fixture
def sidecar_overrides() -> dict[str, Any]:
    return {"graceful_timeout_s": 0.5}


async def test_an_openai_stream_running_at_shutdown_ends_with_the_restart_notice(
    sidecar: Sidecar,
) -> None:
    gateway = sidecar.running.gateway
    with trio.fail_after(10):
        async with sidecar.uds_client() as client, trio.open_nursery() as nursery:
            responses: list[Any] = []

            async def chat() -> None:
                responses.append(await client.post("/v1/chat/completions", json=STALL_BODY))

            nursery.start_soon(chat)
            await wait_until(lambda: gateway.sessions.statistics().active == 1)
            sidecar.supervisor.request_shutdown("test: restart")
    response = responses[0]
    assert response.status_code == 200
    chunks = [
        json.loads(line.removeprefix("data: "))
        for line in response.text.splitlines()
        if line.startswith("data: {")
    ]
    text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks)
    assert "restarting" in text
    assert chunks[-1]["choices"][0]["finish_reason"] == "error"
    assert response.text.rstrip().endswith("data: [DONE]")


async def test_a_shim_request_running_at_shutdown_gets_a_shutting_down_error(
    sidecar: Sidecar,
) -> None:
    gateway = sidecar.running.gateway
    with trio.fail_after(10):
        async with open_shim(sidecar) as shim, trio.open_nursery() as nursery:
            sessions: list[Any] = []

            async def converse() -> None:
                sessions.append(await shim.run(request_frame("sim/stall")))

            nursery.start_soon(converse)
            await wait_until(lambda: gateway.sessions.statistics().active == 1)
            sidecar.supervisor.request_shutdown("test: restart")
    last = sessions[0].last
    assert last["type"] == "error"
    assert last["code"] == "shutting_down"
    assert "restarting" in last["message"]
