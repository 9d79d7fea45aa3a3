"""Hostile frames over a live ``/v1/pipe``: each gets an ``error`` frame and a normal close.

Regression tests of the probe's findings (issue 9): JSON nested deeper than the decoder's
recursion limit, NaN/Infinity and lone surrogates in pass-through fields (which used to crash
the upstream JSON encoder), a tool ``spec.name`` that is an object, invalid UTF-8 in a binary
frame, a frame over the size cap, an over-size ``hello``, and a request that does not fit in
the byte budget (answered ``busy`` at once).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio

from pipe_service import protocol
from tests.pipe_protocol.conftest import Session, open_shim, request_frame
from tests.service.conftest import Sidecar


async def _after_hello(sidecar: Sidecar, raw: str | bytes | dict[str, Any]) -> Session:
    with trio.fail_after(15):
        async with open_shim(sidecar) as shim:
            welcome = await shim.hello()
            assert welcome["type"] == "welcome"
            await shim.send(raw)
            return await shim.until_closed()


def _no_harm_done(sidecar: Sidecar) -> None:
    assert sum(stats.restarts for stats in sidecar.supervisor.statistics()) == 0
    assert sidecar.running.gateway.sessions.statistics().crashed == 0
    assert sidecar.running.byte_budget.statistics().in_flight == 0


def _with_user_text(text_literal: str) -> str:
    """A request frame whose user message is the raw JSON ``text_literal`` (not re-escaped)."""
    marker = "@@TEXT@@"
    frame = request_frame(body={"messages": [{"role": "user", "content": marker}]})
    return json.dumps(frame).replace(json.dumps(marker), text_literal)


async def test_json_nested_beyond_the_recursion_limit_gets_bad_frame(sidecar: Sidecar) -> None:
    deep = "[" * 5000 + "]" * 5000
    frame = _with_user_text(deep)
    session = await _after_hello(sidecar, frame)
    assert [frame["type"] for frame in session.frames] == ["error"]
    assert session.last["code"] == "bad_frame"
    assert "nested deeper" in session.last["message"]
    assert session.close_code == 1000
    _no_harm_done(sidecar)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
async def test_non_finite_numbers_in_pass_through_fields_get_bad_frame(
    sidecar: Sidecar, literal: str
) -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], "temperature": "@@N@@"}
    frame = json.dumps(request_frame(body=body)).replace('"@@N@@"', literal)
    session = await _after_hello(sidecar, frame)
    assert session.last["type"] == "error"
    assert session.last["code"] == "bad_frame"
    assert "not a JSON number" in session.last["message"]
    _no_harm_done(sidecar)


async def test_a_lone_surrogate_in_the_chat_gets_bad_frame(sidecar: Sidecar) -> None:
    session = await _after_hello(sidecar, _with_user_text('"hello \\ud800 there"'))
    assert session.last["type"] == "error"
    assert session.last["code"] == "bad_frame"
    assert "surrogate" in session.last["message"]
    _no_harm_done(sidecar)


async def test_a_surrogate_pair_is_ordinary_text(sidecar: Sidecar) -> None:
    session = await _after_hello(sidecar, _with_user_text('"hello \\ud83d\\ude00"'))
    assert session.last["type"] == "done"


async def test_a_tool_spec_name_that_is_an_object_gets_invalid_request(sidecar: Sidecar) -> None:
    tools = [{"name": "weather", "spec": {"name": {"nested": "object"}, "parameters": {}}}]
    session = await _after_hello(sidecar, request_frame(tools=tools))
    assert session.last["type"] == "error"
    assert session.last["code"] == "invalid_request"
    assert "spec.name" in session.last["message"]
    _no_harm_done(sidecar)


async def test_invalid_utf8_in_a_binary_frame_gets_bad_frame(sidecar: Sidecar) -> None:
    raw = b'{"type": "request", "model": "sim/text", "x": "\xff\xfe\xc3"}'
    session = await _after_hello(sidecar, raw)
    assert session.last["type"] == "error"
    assert session.last["code"] == "bad_frame"
    _no_harm_done(sidecar)


async def test_a_frame_over_the_cap_gets_frame_too_large(
    sidecar: Sidecar, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The cap is 32 MiB; a small cap proves the check runs (the server admits cap + margin).
    monkeypatch.setattr(protocol, "MAX_CLIENT_FRAME_BYTES", 4096)
    frame = request_frame(body={"messages": [{"role": "user", "content": "x" * 8000}]})
    session = await _after_hello(sidecar, frame)
    assert session.last["type"] == "error"
    assert session.last["code"] == "frame_too_large"
    assert session.close_code == 1000
    _no_harm_done(sidecar)


async def test_an_oversized_hello_gets_frame_too_large(sidecar: Sidecar) -> None:
    hello = {"type": "hello", "protocols": [1], "shim_version": "x" * 100_000}
    with trio.fail_after(15):
        async with open_shim(sidecar) as shim:
            await shim.send(hello)
            session = await shim.until_closed()
    assert [frame["type"] for frame in session.frames] == ["error"]
    assert session.last["code"] == "frame_too_large"


@pytest.mark.parametrize(
    "sidecar_overrides", [{"admission": {"max_request_bytes_in_flight": 1024 * 1024}}]
)
async def test_a_request_beyond_the_byte_budget_is_answered_busy_at_once(
    sidecar: Sidecar,
) -> None:
    big = request_frame(body={"messages": [{"role": "user", "content": "y" * 2_000_000}]})
    session = await _after_hello(sidecar, big)
    assert [frame["type"] for frame in session.frames] == ["busy"]
    assert session.last["retry_after_s"] > 0
    assert sidecar.running.gateway.sessions.statistics().started == 0
    stats = sidecar.running.byte_budget.statistics()
    assert stats.refused == 1
    assert stats.in_flight == 0


@pytest.mark.parametrize(
    "sidecar_overrides", [{"admission": {"max_request_bytes_in_flight": 1024 * 1024}}]
)
async def test_requests_within_the_byte_budget_are_served_and_release_their_bytes(
    sidecar: Sidecar,
) -> None:
    frame = request_frame(body={"messages": [{"role": "user", "content": "z" * 300_000}]})
    for _ in range(3):
        session = await _after_hello(sidecar, frame)
        assert session.last["type"] == "done"
    stats = sidecar.running.byte_budget.statistics()
    assert stats.in_flight == 0
    assert stats.peak >= 300_000
    assert stats.refused == 0


def _masked_frame(opcode: int, payload: bytes) -> bytes:
    mask = b"\x01\x02\x03\x04"
    masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    assert len(payload) < 126
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked


async def test_a_text_frame_that_is_not_utf8_gets_bad_frame_and_a_1007_close(
    sidecar: Sidecar,
) -> None:
    """trio-websocket cannot send such a frame, so this client writes the bytes itself."""
    upgrade = (
        b"GET /v1/pipe HTTP/1.1\r\nHost: sidecar\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    received = b""
    with trio.fail_after(15):
        stream = await trio.open_unix_socket(str(sidecar.settings.effective_socket_path))
        async with stream:
            await stream.send_all(upgrade)
            while b"\r\n\r\n" not in received:
                received += await stream.receive_some(4096)
            assert received.startswith(b"HTTP/1.1 101")
            received = received.partition(b"\r\n\r\n")[2]
            await stream.send_all(_masked_frame(0x1, b'{"type": "hello", "x": "\xff\xfe"}'))
            while chunk := await stream.receive_some(4096):
                received += chunk
    # An unmasked text frame (the error), then a close frame with code 1007.
    assert received[0] == 0x81
    length = received[1]
    error = json.loads(received[2 : 2 + length])
    close = received[2 + length :]
    assert error == {
        "type": "error",
        "code": "bad_frame",
        "message": "frame is not valid UTF-8 text",
    }
    assert close[0] == 0x88
    assert int.from_bytes(close[2:4], "big") == 1007


def test_the_invalid_frame_patch_refuses_a_changed_hypercorn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hypercorn.protocol.ws_stream import WSStream

    from pipe_service.front import ws_invalid_frames

    async def different(self: Any) -> None:
        return None

    monkeypatch.setattr(ws_invalid_frames, "_ORIGINAL", different)
    monkeypatch.setattr(WSStream, "_handle_events", different)
    with pytest.raises(RuntimeError, match="changed shape"):
        ws_invalid_frames.install_invalid_frame_answers()
