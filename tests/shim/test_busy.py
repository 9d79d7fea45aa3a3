"""A full sidecar answers ``busy`` at once; the shim shows a clear retry message."""

from __future__ import annotations

import types
from typing import Any

import httpx
import pytest
import trio

from tests.service.conftest import Sidecar, read_until_cancelled, wait_until
from tests.shim.harness import OwuiSide, chat_body, run_shim

STALL_BODY = {"model": "sim/stall", "stream": True, "messages": [{"role": "user", "content": "x"}]}


@pytest.fixture
def sidecar_overrides() -> dict[str, Any]:
    return {"admission": {"slots": 1, "queue": 1, "retry_after_s": 7}}


async def _hold_stream(client: httpx.AsyncClient) -> None:
    async with client.stream("POST", "/v1/chat/completions", json=STALL_BODY) as response:
        await read_until_cancelled(response)


async def test_busy_sidecar_gives_a_retry_message(
    shim: types.ModuleType, uds_pipe: Any, sidecar: Sidecar
) -> None:
    gate = sidecar.running.gateway.admission
    async with sidecar.tcp_client(timeout=30) as client, trio.open_nursery() as nursery:
        nursery.start_soon(_hold_stream, client)
        await wait_until(lambda: gate.statistics().running == 1)
        nursery.start_soon(_hold_stream, client)
        await wait_until(lambda: gate.statistics().queued == 1)
        owui = OwuiSide()
        items = await run_shim(lambda: owui.invoke(uds_pipe, chat_body(shim, "sim/text")))
        nursery.cancel_scope.cancel()
    (message,) = items
    assert message.startswith("### ⚠️ Server busy")
    assert "try again in 7 seconds" in message
