"""``/metrics`` parses with the Prometheus parser, and every family moves under a short load.

One live sidecar (simulator upstream) serves a mixed load over its Unix socket: streamed and
whole answers, an upstream 429 with retries, a user whose requests keep failing, a failing
pipeline tool, and a burst over lowered admission limits. Scrapes before, during and after
must show each family's values change, not only its name appear.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import trio

from tests.operations.conftest import OpsSidecar, Samples
from tests.pipe_protocol.conftest import open_shim, request_frame
from tests.service.conftest import wait_until

WEATHER_SPEC: dict[str, Any] = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture
def ops_overrides() -> dict[str, Any]:
    return {
        "simulator_inter_delta_delay_s": 0.01,
        "admission": {"user_breaker_failures": 2},
        "tools": {"breaker_failures": 1, "retries": 0},
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of a sample name's values whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(
        value
        for (sample, sample_labels), value in samples.items()
        if sample == name and wanted <= set(sample_labels)
    )


async def chat(client: httpx.AsyncClient, model: str, stream: bool, user: str) -> int:
    body = {
        "model": model,
        "stream": stream,
        "user": user,
        "messages": [{"role": "user", "content": "hello"}],
    }
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        await response.aread()
        return response.status_code


async def failing_tool_call(sidecar: OpsSidecar) -> None:
    request = request_frame("sim/tool-call", tools=[{"name": "get_weather", "spec": WEATHER_SPEC}])
    async with open_shim(sidecar) as shim:
        await shim.hello()
        await shim.send(request)
        call = await shim.receive_until("tool_call")
        await shim.send({"type": "tool_result", "call_id": call["call_id"], "error": "boom"})
        await shim.until_closed()


async def test_every_family_moves_under_a_short_simulated_load(ops_sidecar: OpsSidecar) -> None:
    before = await ops_sidecar.scrape()
    during: list[Samples] = []
    with trio.fail_after(30):
        async with ops_sidecar.uds_client() as client:
            async with trio.open_nursery() as nursery:
                for number in range(4):
                    nursery.start_soon(chat, client, "sim/text", True, f"u-load-{number}")

                async def sample_while_streaming() -> None:
                    await wait_until(lambda: ops_sidecar.running.gateway.telemetry.in_flight > 0)
                    during.append(await ops_sidecar.scrape())

                nursery.start_soon(sample_while_streaming)
            assert await chat(client, "sim/text", stream=False, user="u-whole") == 200
            assert await chat(client, "sim/error-429", stream=True, user="u-limited") == 429
            for _ in range(2):
                assert await chat(client, "sim/error-400", stream=True, user="u-bad") == 400
            assert await chat(client, "sim/text", stream=True, user="u-bad") == 429  # slow down
            await failing_tool_call(ops_sidecar)
            assert (await ops_sidecar.admin_set("admission.slots", "1")).status_code == 200
            assert (await ops_sidecar.admin_set("admission.queue", "1")).status_code == 200
            statuses: list[int] = []

            async def burst_one(number: int) -> None:
                statuses.append(await chat(client, "sim/text", stream=True, user=f"u-b{number}"))

            async with trio.open_nursery() as nursery:
                for number in range(4):
                    nursery.start_soon(burst_one, number)

                async def sample_while_queued() -> None:
                    gate = ops_sidecar.running.gateway.admission
                    await wait_until(lambda: gate.statistics().queued > 0)
                    during.append(await ops_sidecar.scrape())

                nursery.start_soon(sample_while_queued)
    after = await ops_sidecar.scrape()
    assert 503 in statuses

    def moved(name: str, **labels: str) -> bool:
        return total(after, name, **labels) > total(before, name, **labels)

    def seen_during(name: str) -> bool:
        return any(total(sample, name) > 0 for sample in during)

    assert seen_during("pipe_service_requests_in_flight")
    assert seen_during("pipe_service_streams_in_flight")
    assert seen_during("pipe_service_admission_queued")
    assert total(after, "pipe_service_requests_in_flight") == 0
    assert moved("pipe_service_requests_total", outcome="completed")
    assert moved("pipe_service_time_to_first_token_seconds_count")
    assert moved("pipe_service_request_duration_seconds_count")
    assert moved("pipe_service_request_phase_seconds_count", phase="admission_wait")
    assert moved("pipe_service_request_phase_seconds_count", phase="upstream_connect")
    assert moved("pipe_service_request_phase_seconds_count", phase="first_byte")
    assert moved("pipe_service_request_phase_seconds_count", phase="tools")
    assert moved("pipe_service_tokens_total", model="sim/text", kind="output")
    assert moved("pipe_service_cost_usd_total", model="sim/text")
    assert moved("pipe_service_request_errors_total", error_class="upstream_rate_limited")
    assert moved("pipe_service_request_errors_total", error_class="slow_down")
    assert moved("pipe_service_upstream_responses_total", status="429")
    assert moved("pipe_service_upstream_responses_total", status="200")
    assert moved("pipe_service_upstream_retries_total")
    assert moved("pipe_service_upstream_errors_total", kind="rate_limited")
    assert moved("pipe_service_tool_calls_total", outcome="failed")
    assert moved("pipe_service_tool_breaker_trips_total")
    assert moved("pipe_service_user_breaker_trips_total")
    assert moved("pipe_service_user_breaker_rejections_total")
    assert moved("pipe_service_admission_refused_total")
    assert moved("pipe_service_admission_admitted_total")
    assert total(after, "pipe_service_admission_slots") == 1
    # Admission has no inbox (a CapacityLimiter and a waiter count): its queue is the
    # admission_queued gauge above; inboxes are read through the log sink's.
    assert moved("pipe_service_inbox_processed_total", actor="log_sink")
    assert moved("pipe_service_log_records_total")
    assert moved("pipe_service_catalog_age_seconds")
    assert total(after, "pipe_service_database_up") == 1
    assert total(after, "pipe_service_persistence_ready") == 1
    assert moved("pipe_service_persistence_commits_total")
    assert moved("pipe_service_persistence_rows_written_total")
    assert moved("pipe_service_request_phase_seconds_count", phase="persistence")
    assert "pipe_service_persistence_queue_depth" in {name for name, _ in after}
    assert total(after, "pipe_service_database_ping_seconds") > 0
    # Nothing failed to persist: the dead-letter table answers and holds nothing (the families
    # move in tests/writebehind/test_dead_letters_flush.py and tests/storage/).
    assert total(after, "pipe_service_dead_letters_store_up") == 1
    assert ("pipe_service_dead_letters_pending", ()) in after
    assert total(after, "pipe_service_dead_letters_pending") == 0


async def test_the_end_of_request_log_line_carries_ids_outcome_and_phases(
    ops_sidecar: OpsSidecar,
) -> None:
    async with ops_sidecar.uds_client() as client:
        assert await chat(client, "sim/text", stream=True, user="u-timing") == 200
    await wait_until(lambda: any("request finished" in line for line in ops_sidecar.writer.lines))
    finished = [json.loads(line) for line in ops_sidecar.writer.lines if "request finished" in line]
    record = finished[-1]
    assert record["user_id"] == "u-timing"
    assert record["request_id"].startswith("req_")
    assert record["outcome"] == "completed"
    assert record["model"] == "sim/text"
    for phase in (
        "admission_wait_ms",
        "transform_ms",
        "upstream_connect_ms",
        "first_byte_ms",
        "first_delta_out_ms",
        "duration_ms",
    ):
        assert record[phase] >= 0, phase
    assert record["output_tokens"] > 0
