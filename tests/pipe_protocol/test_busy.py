"""Admission over the shim protocol: a full sidecar answers ``busy`` at once."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from tests.pipe_protocol.conftest import ShimClient, open_shim, request_frame, run_request
from tests.service.conftest import Sidecar, wait_until


@pytest.fixture
def sidecar_overrides() -> dict[str, Any]:
    return {"admission": {"slots": 1, "queue": 1, "retry_after_s": 7}}


async def _hold(
    sidecar: Sidecar, release: trio.Event, task_status: trio.TaskStatus[ShimClient]
) -> None:
    async with open_shim(sidecar) as shim:
        await shim.hello()
        await shim.send(request_frame("sim/stall"))
        task_status.started(shim)
        await release.wait()


async def test_full_slots_and_queue_answer_busy_with_retry_after(sidecar: Sidecar) -> None:
    gate = sidecar.running.gateway.admission
    release = trio.Event()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(_hold, sidecar, release)
            await wait_until(lambda: gate.statistics().running == 1)
            await nursery.start(_hold, sidecar, release)
            await wait_until(lambda: gate.statistics().queued == 1)

            session = await run_request(sidecar, request_frame("sim/text"))
            release.set()
    assert [frame["type"] for frame in session.frames] == ["busy"]
    assert session.last["retry_after_s"] == 7
    assert "Server busy" in session.last["message"]
    assert session.close_code == 1000
