"""The sessions actor: each turn in its own task, cancelled when its renderer leaves."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from pipe_service.sessions import actor as sessions_actor
from pipe_service.sessions.actor import Sessions


async def _start(nursery: trio.Nursery) -> Sessions:
    started: Sessions = await nursery.start(sessions_actor.run)
    return started


async def test_a_turn_delivers_its_events_then_ends(nursery: trio.Nursery) -> None:
    sessions = await _start(nursery)

    async def body(send: trio.MemorySendChannel[str]) -> None:
        async with send:
            for word in ("a", "b", "c"):
                await send.send(word)

    async with sessions.open_turn(body) as turn:
        received = [item async for item in turn]
    assert received == ["a", "b", "c"]
    await trio.testing.wait_all_tasks_blocked()
    assert sessions.statistics().finished == 1
    assert sessions.statistics().active == 0


async def test_leaving_the_turn_cancels_it(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    sessions = await _start(nursery)
    cancelled_at: list[float] = []

    async def body(send: trio.MemorySendChannel[str]) -> None:
        async with send:
            await send.send("first")
            try:
                await trio.sleep_forever()
            except trio.Cancelled:
                cancelled_at.append(trio.current_time())
                raise

    async with sessions.open_turn(body) as turn:
        assert await turn.receive() == "first"
        await trio.sleep(2)
    await trio.testing.wait_all_tasks_blocked()
    assert cancelled_at == [2]
    assert sessions.statistics().active == 0


async def test_a_crashing_turn_ends_its_stream_and_spares_the_others(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    sessions = await _start(nursery)

    async def crashing(send: trio.MemorySendChannel[str]) -> None:
        await send.send("partial")
        raise RuntimeError("bug in a turn")

    async def healthy(send: trio.MemorySendChannel[str]) -> None:
        async with send:
            await send.send("ok")

    async with sessions.open_turn(crashing) as turn:
        received = [item async for item in turn]
    assert received == ["partial"]
    async with sessions.open_turn(healthy) as turn:
        assert [item async for item in turn] == ["ok"]
    assert sessions.statistics().crashed == 1
    assert "chat turn crashed" in caplog.text


async def test_a_renderer_that_stops_reading_does_not_crash_the_turn(nursery: trio.Nursery) -> None:
    sessions = await _start(nursery)
    outcome: list[str] = []

    async def body(send: trio.MemorySendChannel[str]) -> None:
        async with send:
            try:
                for index in range(1000):
                    await send.send(str(index))
            finally:
                outcome.append("body ended")

    async with sessions.open_turn(body) as turn:
        assert await turn.receive() == "0"
    await trio.testing.wait_all_tasks_blocked()
    assert outcome == ["body ended"]
    assert sessions.statistics().crashed == 0
