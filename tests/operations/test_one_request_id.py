"""One id per request: the turn takes the id its request's trace minted at arrival, so the
turn's failure line, the end-of-request line and the request log name the same request."""

from __future__ import annotations

import json

from prometheus_client import CollectorRegistry

from pipe_service.catalog.capabilities import ModelCapabilities
from pipe_service.chat.request_telemetry import Telemetry
from pipe_service.chat.turn_request import TurnRequest
from pipe_service.telemetry.request_metrics import RequestMetrics
from pipe_service.transform.options import TransformOptions
from tests.operations.conftest import OpsSidecar
from tests.service.conftest import wait_until

MODEL = ModelCapabilities(slug="acme/text", name="Text")


def _turn() -> TurnRequest:
    return TurnRequest(body={}, model=MODEL, stream=False, options=TransformOptions())


async def test_a_turn_takes_the_id_of_the_request_it_serves() -> None:
    telemetry = Telemetry(RequestMetrics(CollectorRegistry()))
    with telemetry.track_request(front="openai", model="acme/text", stream=False) as trace:
        inside = _turn()
    assert inside.request_id == trace.ids.request_id
    first, second = _turn().request_id, _turn().request_id  # outside a request: minted
    assert first != second
    assert first.startswith("req_")
    assert second.startswith("req_")


async def test_a_failed_chat_names_one_request_id_in_every_log_line(
    ops_sidecar: OpsSidecar,
) -> None:
    body = {"model": "sim/error-429", "messages": [{"role": "user", "content": "hi"}]}
    async with ops_sidecar.uds_client() as client:
        reply = await client.post("/v1/chat/completions", json=body)
    assert reply.status_code == 429
    lines = ops_sidecar.writer.lines
    await wait_until(lambda: any("request finished" in line for line in lines))
    records = [json.loads(line) for line in lines]
    finished = [r for r in records if r["msg"] == "request finished"][-1]
    request_id = finished["request_id"]
    failed = [r for r in records if r["msg"].startswith("turn failed")]
    assert [r["request_id"] for r in failed] == [request_id]
    assert f"request_id={request_id} " in failed[0]["msg"]  # the text names the same id
