"""Ending a request early: a ``cancel`` frame or a closed socket stops the turn, the upstream
stream and the admission slot within 100 ms.

Measured on the real clock (the sidecar runs on real sockets): the bound is asserted, and the
polling loop runs only inside a ``fail_after`` guard.
"""

from __future__ import annotations

import trio

from tests.pipe_protocol.conftest import ShimClient, open_shim, request_frame
from tests.service.conftest import Sidecar, wait_until

CANCEL_BOUND_S = 0.1


def _request_is_gone(sidecar: Sidecar) -> bool:
    gateway = sidecar.running.gateway
    return (
        gateway.sessions.statistics().active == 0
        and gateway.admission.statistics().running == 0
        and gateway.client.statistics().open_streams == 0
    )


async def _start_stalled_request(sidecar: Sidecar, shim: ShimClient) -> None:
    await shim.hello()
    await shim.send(request_frame("sim/stall"))
    client = sidecar.running.gateway.client
    await wait_until(lambda: client.statistics().open_streams == 1)


async def _seconds_until_gone(sidecar: Sidecar, since: float) -> float:
    with trio.fail_after(1.0):
        await wait_until(lambda: _request_is_gone(sidecar), step_s=0.002)
    return trio.current_time() - since


async def test_cancel_frame_stops_the_request_within_100_ms(sidecar: Sidecar) -> None:
    with trio.fail_after(10):
        async with open_shim(sidecar) as shim:
            await _start_stalled_request(sidecar, shim)
            sent_at = trio.current_time()
            await shim.send({"type": "cancel", "reason": "stop button"})
            elapsed = await _seconds_until_gone(sidecar, sent_at)
            session = await shim.until_closed()
    assert elapsed < CANCEL_BOUND_S
    assert session.last == {"type": "error", "code": "cancelled", "message": "request cancelled"}
    assert session.close_code == 1000


async def test_closing_the_websocket_stops_the_request_within_100_ms(sidecar: Sidecar) -> None:
    with trio.fail_after(10):
        async with open_shim(sidecar) as shim:
            await _start_stalled_request(sidecar, shim)
            closed_at = trio.current_time()
            await shim.connection.aclose()
            elapsed = await _seconds_until_gone(sidecar, closed_at)
    assert elapsed < CANCEL_BOUND_S


async def test_dropping_the_socket_stops_the_request_within_100_ms(sidecar: Sidecar) -> None:
    with trio.fail_after(10):
        async with open_shim(sidecar) as shim:
            await _start_stalled_request(sidecar, shim)
            dropped_at = trio.current_time()
            # No close handshake: the peer just vanishes (a killed Open WebUI worker).
            await shim.connection._stream.aclose()
            elapsed = await _seconds_until_gone(sidecar, dropped_at)
    assert elapsed < CANCEL_BOUND_S
    # The sidecar keeps serving on the same socket.
    with trio.fail_after(10):
        async with open_shim(sidecar) as shim:
            assert (await shim.run(request_frame("sim/text"))).last["type"] == "done"


async def test_a_bad_frame_during_the_turn_stops_it_with_bad_frame(sidecar: Sidecar) -> None:
    with trio.fail_after(10):
        async with open_shim(sidecar) as shim:
            await _start_stalled_request(sidecar, shim)
            await shim.send("garbage during the turn")
            session = await shim.until_closed()
            await wait_until(lambda: _request_is_gone(sidecar))
    assert session.last["code"] == "bad_frame"


async def test_a_second_request_during_the_turn_is_out_of_order(sidecar: Sidecar) -> None:
    with trio.fail_after(10):
        async with open_shim(sidecar) as shim:
            await _start_stalled_request(sidecar, shim)
            await shim.send(request_frame("sim/text"))
            session = await shim.until_closed()
            await wait_until(lambda: _request_is_gone(sidecar))
    assert session.last["code"] == "out_of_order"
