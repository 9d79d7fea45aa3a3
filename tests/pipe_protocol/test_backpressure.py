"""A shim that stops reading is cut off after the stall bound; everyone else is unaffected.

hypercorn's writes are shielded, so the front bounds them itself (``send_stall_s``): a write the
shim has not taken within the bound closes the connection. To fill the socket buffers the
request asks ``sim/tool-call`` to quote a large tool output back: 2 MB in ~4000 deltas of 500
bytes, so far more *frames* than the sidecar's queues hold (the turn cannot finish into them) and
far more bytes than any kernel socket buffer holds; and the test client stops reading at the
socket itself (:class:`~tests.pipe_protocol.conftest.PausableStream`): trio-websocket would
otherwise read a whole message into memory however large.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

from tests.pipe_protocol.conftest import ShimClient, open_shim, request_frame
from tests.service.conftest import Sidecar, wait_until

STALL_S = 0.3
BIG_WORD = "x" * 500


@pytest.fixture
def sidecar_overrides() -> dict[str, Any]:
    return {"send_stall_s": STALL_S}


def _large_answer_request() -> dict[str, Any]:
    big_output = " ".join([BIG_WORD] * 4000)  # quoted back as ~2 MB of text
    messages = [
        {"role": "user", "content": "what is the weather"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": big_output},
    ]
    return request_frame("sim/tool-call", body={"messages": messages})


async def _stop_reading_after_request(shim: ShimClient) -> None:
    await shim.hello()
    shim.stream.pause_reading()
    await shim.send(_large_answer_request())
    # From here on nothing reads the socket: the kernel buffers fill, then the sidecar's write
    # stalls.


async def test_a_shim_that_stops_reading_is_disconnected_and_its_request_cancelled(
    sidecar: Sidecar,
) -> None:
    gateway = sidecar.running.gateway
    with trio.fail_after(10):
        async with open_shim(sidecar, message_queue_size=1) as shim:
            await _stop_reading_after_request(shim)
            await wait_until(lambda: gateway.sessions.statistics().started == 1)
            await wait_until(lambda: gateway.sessions.statistics().active == 0)
            assert gateway.admission.statistics().running == 0
            # Reading again: whatever was buffered, then the cut (no close frame: 1006).
            shim.stream.resume_reading()
            session = await shim.until_closed()
    assert session.close_code == 1006
    assert session.of_type("done") == []


async def test_other_sessions_are_served_while_one_shim_stalls(sidecar: Sidecar) -> None:
    with trio.fail_after(10):
        async with open_shim(sidecar, message_queue_size=1) as stalled:
            await _stop_reading_after_request(stalled)
            async with open_shim(sidecar) as healthy:
                session = await healthy.run(request_frame("sim/text"))
            assert session.last["type"] == "done"
            async with sidecar.uds_client() as http:
                assert (await http.get("/healthz")).status_code == 200
