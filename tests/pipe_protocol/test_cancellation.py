"""Ending a request early: a ``cancel`` frame or a closed socket stops the turn, the upstream
stream and the admission slot at once, by cancellation rather than by any timeout.

The sidecar runs on real sockets, so this runs on the real clock. How fast the stop is belongs in
the benchmarks (it is ~1 ms on an idle machine); what a test can hold on a loaded machine is that
the stop happens well before the first timer that could also end the request (the provider-wait
status at 5 s, the stall limit after it), so the bound below is the proof that no timer did it.
"""

from __future__ import annotations

import trio

from tests.pipe_protocol.conftest import ShimClient, open_shim, request_frame
from tests.service.conftest import Sidecar, wait_until

CANCEL_BOUND_S = 2.0  # below every timer of the turn (the first is the 5 s wait status)


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
    with trio.fail_after(10):
        await wait_until(lambda: _request_is_gone(sidecar), step_s=0.002)
    return trio.current_time() - since


async def test_cancel_frame_stops_the_request_at_once(sidecar: Sidecar) -> None:
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


async def test_closing_the_websocket_stops_the_request_at_once(sidecar: Sidecar) -> None:
    with trio.fail_after(10):
        async with open_shim(sidecar) as shim:
            await _start_stalled_request(sidecar, shim)
            closed_at = trio.current_time()
            await shim.connection.aclose()
            elapsed = await _seconds_until_gone(sidecar, closed_at)
    assert elapsed < CANCEL_BOUND_S


async def test_dropping_the_socket_stops_the_request_at_once(sidecar: Sidecar) -> None:
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
