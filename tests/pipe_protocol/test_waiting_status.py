"""A silent provider is visible: a fresh "waiting" status while it says nothing, and a clear
stalled error once it has been silent past ``upstream.stall_timeout_s``."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from tests.pipe_protocol.conftest import open_shim, request_frame, run_request
from tests.service.conftest import Sidecar


@pytest.fixture
def sidecar_overrides() -> dict[str, Any]:
    return {
        "streaming": {"waiting_status_after_s": 0.2, "waiting_status_every_s": 0.2},
        "upstream": {"stall_timeout_s": 1.5},
    }


async def test_a_silent_provider_shows_a_waiting_status_kept_fresh(sidecar: Sidecar) -> None:
    with trio.fail_after(10):
        async with open_shim(sidecar) as shim:
            await shim.hello()
            await shim.send(request_frame("sim/stall"))
            first = await shim.receive()
            second = await shim.receive()
    for frame in (first, second):  # shown, then refreshed (the timing is unit-tested)
        assert frame["type"] == "event"
        assert frame["event"]["type"] == "status"
        assert frame["event"]["data"]["description"].startswith("Waiting for the provider (")
        assert frame["event"]["data"]["done"] is False


async def test_a_provider_silent_past_the_stall_limit_ends_with_a_stalled_error(
    sidecar: Sidecar,
) -> None:
    session = await run_request(sidecar, request_frame("sim/stall"))
    statuses = [frame for frame in session.frames if frame["type"] == "event"]
    assert statuses
    error = session.last
    assert error["type"] == "error"
    assert error["code"] == "upstream_error"
    assert "Neither OpenRouter nor the model sent anything" in error["message"]
    assert error["error_id"] in error["message"]

