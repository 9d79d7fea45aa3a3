"""PipeSession as a unit: memory streams, virtual time, the real gateway over a scripted
upstream (see ``tests.pipe_protocol.memory_session``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing
import trio_websocket

from pipe_service.chat.gateway import ChatGateway
from pipe_service.sessions.actor import ShutdownPolicy
from tests.pipe_protocol.conftest import request_frame
from tests.pipe_protocol.memory_session import ShimEnd, open_memory_session
from tests.tools.fakes import ScriptedUpstream, text_script

HELLO = {"type": "hello", "protocols": [1], "shim_version": "test"}
CREATED = b'data: {"type":"response.created","response":{"id":"resp_1","status":"in_progress"}}\n\n'


class HangingUpstream:
    """Opens a stream, sends ``response.created``, then says nothing until cancelled."""

    def __init__(self, *, stall_timeout_s: float = 3600.0) -> None:
        self.stall_timeout_s = stall_timeout_s
        self.cancelled = trio.Event()

    @asynccontextmanager
    async def stream_responses(
        self,
        payload: Mapping[str, Any],
        *,
        api_key: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[HangingUpstream]:
        self.last_byte_at = trio.current_time()
        self._sent = False
        yield self

    def aiter_bytes(self) -> HangingUpstream:
        return self

    def __aiter__(self) -> HangingUpstream:
        return self

    async def __anext__(self) -> bytes:
        if not self._sent:
            self._sent = True
            return CREATED
        try:
            await trio.sleep_forever()
        finally:
            self.cancelled.set()
        raise AssertionError("unreachable")


class CrashingUpstream:
    """A bug below the gateway: opening the stream raises something no one expects."""

    stall_timeout_s = 3600.0

    @asynccontextmanager
    async def stream_responses(self, payload: Mapping[str, Any], **_: Any) -> AsyncIterator[None]:
        raise RuntimeError("a bug in the upstream layer")
        yield


async def _start(shim: Any, model: str = "acme/chat") -> None:
    await shim.send(HELLO)
    assert (await shim.receive())["type"] == "welcome"
    await shim.send(request_frame(model))


async def test_a_request_streams_its_answer_then_the_sidecar_closes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_memory_session(ScriptedUpstream(text_script("Hello there"))) as (shim, _):
        await _start(shim)
        frames, close_code = await shim.until_closed()
    assert [frame["type"] for frame in frames] == ["delta", "done"]
    assert frames[0]["text"] == "Hello there"
    assert close_code == 1000


async def test_a_silent_shim_gets_timeout_exactly_at_the_handshake_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    start = trio.current_time()
    async with open_memory_session(ScriptedUpstream(), handshake_timeout_s=7) as (shim, _):
        frames, close_code = await shim.until_closed()
    assert trio.current_time() - start == 7
    assert [(frame["type"], frame["code"]) for frame in frames] == [("error", "timeout")]
    assert close_code == 1000


async def test_a_shim_silent_after_welcome_gets_timeout_too(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_memory_session(ScriptedUpstream(), handshake_timeout_s=7) as (shim, _):
        await shim.send(HELLO)
        assert (await shim.receive())["type"] == "welcome"
        welcomed = trio.current_time()
        frames, _ = await shim.until_closed()
    assert trio.current_time() - welcomed == 7
    assert frames[-1]["code"] == "timeout"


async def _assert_turn_gone(upstream: HangingUpstream, gateway: ChatGateway) -> None:
    """The upstream stream was cancelled, and no turn or admission slot is left behind."""
    await upstream.cancelled.wait()
    await trio.testing.wait_all_tasks_blocked()
    assert gateway.sessions.statistics().active == 0
    assert gateway.sessions.statistics().crashed == 0
    assert gateway.admission.statistics().running == 0


@asynccontextmanager
async def _hanging_turn(
    upstream: HangingUpstream | None = None, *, shutdown: ShutdownPolicy | None = None
) -> AsyncIterator[tuple[ShimEnd, ChatGateway, HangingUpstream]]:
    """A session whose turn is running against a provider that says nothing after
    ``response.created``; on leaving, the turn must be gone (see :func:`_assert_turn_gone`)."""
    upstream = upstream or HangingUpstream()
    async with open_memory_session(upstream, shutdown=shutdown) as (shim, gateway):
        await _start(shim)
        yield shim, gateway, upstream
        await _assert_turn_gone(upstream, gateway)


async def test_cancel_during_a_turn_stops_it_and_answers_cancelled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with _hanging_turn() as (shim, gateway, _):
        await trio.sleep(30)
        assert gateway.sessions.statistics().active == 1
        await shim.send({"type": "cancel"})
        frames, close_code = await shim.until_closed()
    statuses = [frame for frame in frames if frame["type"] == "event"]
    assert statuses[0]["event"]["data"]["description"] == "Waiting for the provider (5 s)…"
    assert frames[-1] == {"type": "error", "code": "cancelled", "message": "request cancelled"}
    assert close_code == 1000


async def test_an_unexpected_frame_during_a_turn_is_out_of_order_and_stops_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with _hanging_turn() as (shim, _, _):
        await shim.send(HELLO)
        frames, _ = await shim.until_closed()
    assert frames[-1]["type"] == "error"
    assert frames[-1]["code"] == "out_of_order"


async def test_a_turn_that_crashes_ends_with_an_internal_error_and_the_gateway_lives(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_memory_session(CrashingUpstream()) as (shim, gateway):
        await _start(shim)
        frames, close_code = await shim.until_closed()
        assert gateway.sessions.statistics().crashed == 0  # caught at the turn's boundary
    error = frames[-1]
    assert (error["type"], error["code"]) == ("error", "internal")
    assert error["error_id"] in error["message"]
    crash_logs = [r for r in caplog.records if getattr(r, "error_id", None) == error["error_id"]]
    assert len(crash_logs) == 1
    assert crash_logs[0].exc_info is not None
    assert close_code == 1000


async def _timed_frames(shim: ShimEnd, since: float) -> list[tuple[float, dict[str, Any]]]:
    """Every frame until the sidecar closes, with the virtual time it arrived at."""
    frames: list[tuple[float, dict[str, Any]]] = []
    while True:
        try:
            frame = await shim.receive()
        except trio_websocket.ConnectionClosed:
            return frames
        frames.append((trio.current_time() - since, frame))


async def test_a_silent_provider_shows_a_waiting_status_every_5_s(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with _hanging_turn() as (shim, _, _):
        started = trio.current_time()
        seen = [await shim.receive() for _ in range(3)]
        assert trio.current_time() - started == 15
        await shim.send({"type": "cancel"})
    descriptions = [frame["event"]["data"]["description"] for frame in seen]
    assert descriptions == [f"Waiting for the provider ({n} s)…" for n in (5, 10, 15)]
    assert all(frame["event"]["data"]["done"] is False for frame in seen)


async def test_a_provider_silent_past_the_stall_limit_ends_with_a_stalled_error_on_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with _hanging_turn(HangingUpstream(stall_timeout_s=22)) as (shim, _, _):
        frames = await _timed_frames(shim, trio.current_time())
    at, error = frames[-1]
    assert at == 22
    assert (error["type"], error["code"]) == ("error", "upstream_error")
    assert "Neither OpenRouter nor the model sent anything" in error["message"]
    assert error["error_id"] in error["message"]
    statuses = [at for at, frame in frames if frame["type"] == "event"]
    assert statuses == [5, 10, 15, 20]


async def test_a_shim_that_closes_its_socket_mid_turn_ends_the_turn_and_frees_its_slot(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with _hanging_turn() as (shim, gateway, _):
        await trio.sleep(7)
        assert gateway.admission.statistics().running == 1
        await shim.connection.aclose()


async def test_a_shim_that_vanishes_mid_turn_ends_the_turn_and_frees_its_slot(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with _hanging_turn() as (shim, _, _):
        await trio.sleep(7)
        # No close handshake: the peer's stream just ends (a killed Open WebUI worker).
        await shim.connection._stream.aclose()


async def test_a_shutdown_cuts_a_live_turn_after_the_drain_and_names_the_sidecar(
    autojump_clock: trio.testing.MockClock,
) -> None:
    stopping = trio.Event()
    policy = ShutdownPolicy(wait_requested=stopping.wait, drain_s=3)
    async with _hanging_turn(shutdown=policy) as (shim, _, _):
        await trio.sleep(1)
        stopping.set()
        frames = await _timed_frames(shim, trio.current_time())
    at, error = frames[-1]
    assert at == 3
    assert (error["type"], error["code"]) == ("error", "shutting_down")
    assert "sidecar is restarting" in error["message"]
    assert "OpenRouter said" not in error["message"]
    assert error["error_id"] in error["message"]
