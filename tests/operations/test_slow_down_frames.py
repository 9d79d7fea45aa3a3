"""A user whose requests keep failing gets a clear ``slow_down`` error frame from the shim
endpoint (and 429 JSON from the OpenAI API), without the request reaching OpenRouter."""

from __future__ import annotations

from typing import Any

import pytest

from tests.operations.conftest import OpsSidecar
from tests.pipe_protocol.conftest import request_frame, run_request


@pytest.fixture
def ops_overrides() -> dict[str, Any]:
    return {"admission": {"user_breaker_failures": 2, "user_breaker_window_s": 120}}


async def simulator_requests(sidecar: OpsSidecar) -> int:
    async with sidecar.simulator_client() as client:
        log = (await client.get("/_sim/requests")).json()
    return len(log["data"])


async def test_the_shim_gets_a_slow_down_frame_after_repeated_failures(
    ops_sidecar: OpsSidecar,
) -> None:
    for _ in range(2):
        session = await run_request(ops_sidecar, request_frame("sim/error-400"))
        assert session.last["code"] == "upstream_error"
    sent = await simulator_requests(ops_sidecar)
    session = await run_request(ops_sidecar, request_frame("sim/text"))
    frame = session.last
    assert frame["type"] == "error"
    assert frame["code"] == "slow_down"
    assert frame["retry_after_s"] == 120
    assert "Slow down" in frame["message"]
    assert "2 minutes" in frame["message"]
    assert await simulator_requests(ops_sidecar) == sent  # OpenRouter was spared


async def test_the_openai_api_answers_429_slow_down_json(ops_sidecar: OpsSidecar) -> None:
    body = {
        "model": "sim/error-400",
        "user": "u-api",
        "messages": [{"role": "user", "content": "x"}],
    }
    async with ops_sidecar.uds_client() as client:
        for _ in range(2):
            assert (await client.post("/v1/chat/completions", json=body)).status_code == 400
        reply = await client.post("/v1/chat/completions", json={**body, "model": "sim/text"})
    assert reply.status_code == 429
    assert reply.headers["retry-after"] == "120"
    error = reply.json()["error"]
    assert error["code"] == "slow_down"
    assert error["type"] == "rate_limit_error"
