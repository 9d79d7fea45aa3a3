"""The session's opening: hello/welcome, version negotiation, and frames out of order."""

from __future__ import annotations

import trio

from tests.pipe_protocol.conftest import Session, open_shim, request_frame
from tests.service.conftest import Sidecar


async def _after_hello(sidecar: Sidecar, frame: dict[str, object] | str | bytes) -> Session:
    with trio.fail_after(10):
        async with open_shim(sidecar) as shim:
            assert (await shim.hello())["type"] == "welcome"
            await shim.send(frame)
            return await shim.until_closed()


async def test_hello_is_answered_with_welcome_and_limits(sidecar: Sidecar) -> None:
    with trio.fail_after(10):
        async with open_shim(sidecar) as shim:
            welcome = await shim.hello([1])
    assert welcome["type"] == "welcome"
    assert welcome["protocol"] == 1
    assert welcome["sidecar_version"]
    assert welcome["limits"]["max_client_frame_bytes"] > 0
    assert welcome["limits"]["send_stall_s"] > 0


async def test_highest_common_version_is_chosen(sidecar: Sidecar) -> None:
    with trio.fail_after(10):
        async with open_shim(sidecar) as shim:
            welcome = await shim.hello([1, 7])
    assert welcome["protocol"] == 1


async def test_version_mismatch_gets_unsupported_version_and_close(sidecar: Sidecar) -> None:
    with trio.fail_after(10):
        async with open_shim(sidecar) as shim:
            await shim.send({"type": "hello", "protocols": [99]})
            session = await shim.until_closed()
    assert [frame["type"] for frame in session.frames] == ["error"]
    assert session.last["code"] == "unsupported_version"
    assert session.close_code == 1000


async def test_request_before_hello_is_out_of_order(sidecar: Sidecar) -> None:
    with trio.fail_after(10):
        async with open_shim(sidecar) as shim:
            await shim.send(request_frame())
            session = await shim.until_closed()
    assert session.last["code"] == "out_of_order"


async def test_second_hello_is_out_of_order(sidecar: Sidecar) -> None:
    session = await _after_hello(sidecar, {"type": "hello", "protocols": [1]})
    assert session.last["code"] == "out_of_order"


async def test_tool_result_before_request_is_out_of_order(sidecar: Sidecar) -> None:
    session = await _after_hello(sidecar, {"type": "tool_result", "call_id": "c1"})
    assert session.last["code"] == "out_of_order"


async def test_unknown_frame_type_is_a_bad_frame(sidecar: Sidecar) -> None:
    session = await _after_hello(sidecar, {"type": "teleport"})
    assert session.last["code"] == "bad_frame"
    assert session.close_code == 1000


async def test_invalid_json_is_a_bad_frame(sidecar: Sidecar) -> None:
    session = await _after_hello(sidecar, "{not json")
    assert session.last["code"] == "bad_frame"


async def test_request_with_missing_fields_is_a_bad_frame_naming_the_field(
    sidecar: Sidecar,
) -> None:
    session = await _after_hello(sidecar, {"type": "request", "model": "sim/text"})
    assert session.last["code"] == "bad_frame"
    assert "body" in session.last["message"]


async def test_cancel_before_request_closes_quietly(sidecar: Sidecar) -> None:
    session = await _after_hello(sidecar, {"type": "cancel"})
    assert session.frames == []
    assert session.close_code == 1000
