"""Overload over real sockets: a full sidecar answers 503 at once, and a client leaving frees
its slot (its turn and upstream stream are cancelled)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio
import trio.testing

from tests.service.conftest import Sidecar, read_until_cancelled, wait_until

STALL_BODY = {
    "model": "sim/stall",
    "stream": True,
    "messages": [{"role": "user", "content": "wait"}],
}


@pytest.fixture
def sidecar_overrides() -> dict[str, Any]:
    return {"admission": {"slots": 1, "queue": 1, "retry_after_s": 7}}


async def _hold_stream(client: httpx.AsyncClient, started: trio.Event) -> None:
    async with client.stream("POST", "/v1/chat/completions", json=STALL_BODY) as response:
        started.set()
        await read_until_cancelled(response)


async def test_full_slots_and_queue_answer_503_with_retry_after(sidecar: Sidecar) -> None:
    gate = sidecar.running.gateway.admission
    async with sidecar.tcp_client(timeout=30) as client, trio.open_nursery() as nursery:
        nursery.start_soon(_hold_stream, client, trio.Event())
        await wait_until(lambda: gate.statistics().running == 1)
        nursery.start_soon(_hold_stream, client, trio.Event())
        await wait_until(lambda: gate.statistics().queued == 1)

        text_body = {**STALL_BODY, "model": "sim/text"}
        response = await client.post("/v1/chat/completions", json=text_body)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "7"
        assert response.json()["error"]["code"] == "server_busy"
        nursery.cancel_scope.cancel()


async def test_a_client_that_leaves_frees_its_slot_and_turn(sidecar: Sidecar) -> None:
    gate = sidecar.running.gateway.admission
    sessions = sidecar.running.gateway.sessions
    async with sidecar.tcp_client(timeout=30) as client:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_hold_stream, client, trio.Event())
            await wait_until(lambda: gate.statistics().running == 1)
            nursery.cancel_scope.cancel()
        await wait_until(lambda: gate.statistics().running == 0)
        await wait_until(lambda: sessions.statistics().active == 0)
        # The slot is really free: the next request is served.
        response = await client.post(
            "/v1/chat/completions",
            json={"model": "sim/text", "messages": [{"role": "user", "content": "hi"}]},
        )
    assert response.status_code == 200
