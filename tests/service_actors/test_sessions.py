"""The sessions actor: each turn in its own task, cancelled when its renderer leaves, cut at
shutdown, and never taken down by one turn."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from pipe_service.sessions import actor as sessions_actor
from pipe_service.sessions.actor import Sessions, ShutdownPolicy


async def _start(nursery: trio.Nursery, sessions: Sessions | None = None) -> Sessions:
    started: Sessions = await nursery.start(sessions_actor.run, sessions or Sessions())
    return started


async def test_a_turn_delivers_its_events_then_ends(nursery: trio.Nursery) -> None:
    sessions = await _start(nursery)

    async def body(send: trio.MemorySendChannel[str], cut: trio.CancelScope) -> None:
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

    async def body(send: trio.MemorySendChannel[str], cut: trio.CancelScope) -> None:
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

    async def crashing(send: trio.MemorySendChannel[str], cut: trio.CancelScope) -> None:
        await send.send("partial")
        raise RuntimeError("bug in a turn")

    async def healthy(send: trio.MemorySendChannel[str], cut: trio.CancelScope) -> None:
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

    async def body(send: trio.MemorySendChannel[str], cut: trio.CancelScope) -> None:
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


async def test_a_turn_cancelled_while_its_tasks_fail_spares_the_actor(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    # The shape of ChatGateway._coalesced_turn: a nursery whose body waits on a full outbox.
    # The stop button cancels the turn while a child fails, so the body raises a group of
    # Cancelled *and* a real error; that must end this turn only, not the actor.
    sessions = await _start(nursery)

    async def body(send: trio.MemorySendChannel[str], cut: trio.CancelScope) -> None:
        async def child_failing_on_cancel() -> None:
            try:
                await trio.sleep_forever()
            finally:
                raise RuntimeError("cleanup failed")

        async with trio.open_nursery() as inner:
            inner.start_soon(child_failing_on_cancel)
            while True:
                await send.send("x")  # blocks once the outbox is full

    async with sessions.open_turn(body) as turn:
        assert await turn.receive() == "x"
        await trio.testing.wait_all_tasks_blocked()
        turn.cancel()
        await trio.testing.wait_all_tasks_blocked()
    assert sessions.statistics().crashed == 1
    assert sessions.statistics().active == 0

    async def healthy(send: trio.MemorySendChannel[str], cut: trio.CancelScope) -> None:
        async with send:
            await send.send("still serving")

    async with sessions.open_turn(healthy) as turn:
        assert [item async for item in turn] == ["still serving"]


async def test_turns_opened_while_the_actor_restarts_wait_for_it(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    sessions = Sessions()
    first_run = trio.CancelScope()

    async def run_once(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with first_run:
            await sessions_actor.run(sessions, task_status=task_status)

    await nursery.start(run_once)
    first_run.cancel()  # the actor died; the supervisor restarts it after a backoff
    await trio.testing.wait_all_tasks_blocked()
    served: list[float] = []

    async def body(send: trio.MemorySendChannel[str], cut: trio.CancelScope) -> None:
        async with send:
            await send.send("served")

    async def chat() -> None:
        async with sessions.open_turn(body) as turn:
            assert [item async for item in turn] == ["served"]
            served.append(trio.current_time())

    nursery.start_soon(chat)
    await trio.sleep(3)
    assert served == []
    await nursery.start(sessions_actor.run, sessions)
    await trio.testing.wait_all_tasks_blocked()
    assert served == [3]


async def test_shutdown_cuts_live_turns_drain_s_after_it_is_requested(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    requested = trio.Event()
    sessions = await _start(nursery, Sessions(ShutdownPolicy(requested.wait, drain_s=4.0)))
    cut_at: list[float] = []

    async def body(send: trio.MemorySendChannel[str], cut: trio.CancelScope) -> None:
        async with send:
            with cut:
                await trio.sleep_forever()
            assert cut.cancelled_caught
            cut_at.append(trio.current_time())
            await send.send("cut")

    async def chat(received: list[str]) -> None:
        async with sessions.open_turn(body) as turn:
            received.extend([item async for item in turn])

    early: list[str] = []
    late: list[str] = []
    nursery.start_soon(chat, early)
    await trio.sleep(10)
    requested.set()
    await trio.sleep(1)
    nursery.start_soon(chat, late)  # a turn started during the drain gets the same deadline
    await trio.sleep(2.5)
    assert cut_at == []
    await trio.sleep(1)
    assert cut_at == [14, 14]
    assert early == late == ["cut"]
