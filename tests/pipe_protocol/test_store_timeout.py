"""A shim that never answers ``store_file``: the user is told, and the answer still ends."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from tests.pipe_protocol.conftest import open_shim, request_frame
from tests.service.conftest import Sidecar

STORE_TIMEOUT_S = 0.3


@pytest.fixture
def sidecar_overrides() -> dict[str, Any]:
    return {"media": {"store_timeout_s": STORE_TIMEOUT_S}}


async def test_an_unanswered_store_is_told_after_the_store_timeout(sidecar: Sidecar) -> None:
    body = {"messages": [{"role": "user", "content": "a red fox"}]}
    with trio.fail_after(10):
        async with open_shim(sidecar) as shim:
            await shim.hello()
            await shim.send(request_frame("sim/image", body=body))
            await shim.receive_until("store_file")
            session = await shim.until_closed()
    described = [
        frame["event"]["data"]["description"]
        for frame in session.of_type("event")
        if frame["event"]["type"] == "status"
    ]
    assert (
        "⚠️ The generated image could not be saved: Open WebUI did not answer in time" in described
    )
    assert session.last["type"] == "done"
