"""Under 5x overload the log sink drops and counts; streams never wait for logging.

The sink's writer is stuck (a blocked stderr, simulated by a gate the writer thread waits on),
its inbox holds 16 records, and 80 records (5x) are logged while four chats stream. Every chat
completes while the writer is still stuck, and every record is either written once the writer
is released or counted as dropped.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import httpx
import pytest
import trio

from tests.operations.conftest import ListWriter, OpsSidecar
from tests.service.conftest import wait_until

INBOX = 16
OVERLOAD = 5 * INBOX


@pytest.fixture
def ops_overrides() -> dict[str, Any]:
    return {"logging": {"inbox_size": INBOX}, "simulator_inter_delta_delay_s": 0.005}


@pytest.fixture
def log_writer() -> ListWriter:
    return ListWriter(gate=threading.Event())


async def stream_chat(client: httpx.AsyncClient, results: list[str]) -> None:
    body = {"model": "sim/text", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        text = (await response.aread()).decode()
    assert response.status_code == 200
    results.append(text)


async def test_a_stuck_log_writer_drops_and_counts_while_streams_finish(
    ops_sidecar: OpsSidecar, log_writer: ListWriter
) -> None:
    assert log_writer.gate is not None
    logger = logging.getLogger("pipe_service.tests.flood")
    sink = ops_sidecar.running.context.supervisor.statistics()[0]
    assert sink.name == "log_sink"
    try:
        # Start-up records already reached the writer, which is stuck on its first batch.
        before = _sink_status(ops_sidecar)
        records_before = ops_sidecar.handler.records
        results: list[str] = []
        with trio.fail_after(20):
            async with ops_sidecar.uds_client() as client, trio.open_nursery() as nursery:
                for _ in range(4):
                    nursery.start_soon(stream_chat, client, results)
                for number in range(OVERLOAD):
                    logger.info("flood record %d", number)
        assert len(results) == 4
        assert all(text.rstrip().endswith("data: [DONE]") for text in results)
        assert not log_writer.lines  # the writer is still stuck: the chats did not wait for it
        status = _sink_status(ops_sidecar)
        logged = ops_sidecar.handler.records - records_before
        assert logged >= OVERLOAD
        assert status["queued"] == INBOX
        room = INBOX - before["queued"]
        assert status["dropped"] - before["dropped"] == logged - room
    finally:
        log_writer.gate.set()
    await wait_until(lambda: _inbox_depth(ops_sidecar) == 0)
    await wait_until(lambda: len(log_writer.lines) >= INBOX)
    metrics = await ops_sidecar.scrape()
    assert metrics[("pipe_service_log_records_dropped_total", ())] >= OVERLOAD - INBOX


def _sink_status(sidecar: OpsSidecar) -> dict[str, Any]:
    details = sidecar.running.context.status_details()["log_sink"]
    assert isinstance(details, dict)
    return details


def _inbox_depth(sidecar: OpsSidecar) -> int:
    depth = _sink_status(sidecar)["queued"]
    assert isinstance(depth, int)
    return depth
