"""Who may open ``/v1/pipe``: the Unix socket by file mode, TCP only with the bearer token."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio_websocket

from tests.pipe_protocol.conftest import open_shim, request_frame
from tests.service.conftest import Sidecar

TOKEN = "pipe-test-token-0123456789"


@pytest.fixture
def sidecar_overrides() -> dict[str, Any]:
    return {"api_token": TOKEN}


async def test_unix_socket_needs_no_token(sidecar: Sidecar) -> None:
    with trio.fail_after(10):
        async with open_shim(sidecar) as shim:
            session = await shim.run(request_frame())
    assert session.last["type"] == "done"


async def test_tcp_with_the_token_is_served(sidecar: Sidecar) -> None:
    with trio.fail_after(10):
        async with open_shim(sidecar, tcp=True, token=TOKEN) as shim:
            session = await shim.run(request_frame())
    assert session.last["type"] == "done"


def _rejected_with(status: int) -> pytest.RaisesGroup[Any]:
    # The rejection surfaces from trio-websocket's reader task, inside nurseries.
    return pytest.RaisesGroup(
        pytest.RaisesExc(
            trio_websocket.ConnectionRejected, check=lambda exc: exc.status_code == status
        ),
        flatten_subgroups=True,
    )


async def test_tcp_without_a_token_is_rejected_with_401(sidecar: Sidecar) -> None:
    with trio.fail_after(10), _rejected_with(401):
        async with open_shim(sidecar, tcp=True):
            pass


async def test_tcp_with_a_wrong_token_is_rejected_with_401(sidecar: Sidecar) -> None:
    with trio.fail_after(10), _rejected_with(401):
        async with open_shim(sidecar, tcp=True, token="not-the-token"):
            pass
