"""One-for-one restarts: exact backoff, restart intensity, escalation, and inbox survival.

All on virtual time (``autojump_clock``): each test asserts the exact trio clock at which a run
started or the supervisor gave up, so backoff arithmetic is checked, not approximated.
"""

from __future__ import annotations

import json
import logging

import pytest
import trio
import trio.testing

from actors import (
    ActorSpec,
    Inbox,
    InboxReceiver,
    OverloadPolicy,
    RestartIntensityExceeded,
    RestartPolicy,
    open_supervisor,
)
from tests.actors.doubles import report_and_crash, slow_sink


async def test_crashed_actor_restarts_after_the_exact_backoff(autojump_clock):
    runs_send, runs = trio.open_memory_channel[float](10)
    run_count = 0

    async def crash_once(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED):
        nonlocal run_count
        run_count += 1
        runs_send.send_nowait(trio.current_time())
        task_status.started()
        if run_count == 1:
            await trio.sleep(1)
            raise ValueError("boom")
        await trio.sleep_forever()

    start = trio.current_time()
    async with open_supervisor(grace_s=1) as supervisor:
        await supervisor.start(
            ActorSpec("flaky", crash_once, restart=RestartPolicy(backoff_initial_s=0.5))
        )
        assert await runs.receive() == start
        assert await runs.receive() == start + 1.5
        await trio.testing.wait_all_tasks_blocked()
        [stats] = supervisor.statistics()
        assert (stats.state, stats.restarts, stats.started_at) == ("running", 1, start + 1.5)
        assert (stats.last_error, stats.last_error_at) == ("ValueError: boom", start + 1)
        json.dumps(stats.as_dict())


async def test_backoff_doubles_and_caps(autojump_clock):
    runs_send, runs = trio.open_memory_channel[float](10)
    policy = RestartPolicy(max_restarts=10, backoff_initial_s=1, backoff_factor=2, backoff_max_s=4)
    start = trio.current_time()
    async with open_supervisor(grace_s=1) as supervisor:
        await supervisor.start(ActorSpec("crasher", report_and_crash, (runs_send,), restart=policy))
        run_starts = [await runs.receive() - start for _ in range(5)]
        assert run_starts == [0, 1, 3, 7, 11]
        assert supervisor.statistics()[0].restarts == 4


async def test_backoff_shrinks_again_once_old_crashes_leave_the_window():
    policy = RestartPolicy(max_restarts=3, window_s=10, backoff_initial_s=1, backoff_max_s=8)
    assert [policy.backoff_s(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 8]
    assert policy.backoff_s(5000) == 8


async def test_restart_intensity_exceeded_escalates_after_sinks_drain(autojump_clock):
    runs_send, _runs = trio.open_memory_channel[float](10)
    sink_inbox = Inbox[int]("sink", 8, OverloadPolicy.BLOCK)
    drained: list[int] = []
    policy = RestartPolicy(max_restarts=2, window_s=60, backoff_initial_s=1)
    start = trio.current_time()
    with pytest.RaisesGroup(RestartIntensityExceeded) as excinfo:
        async with open_supervisor(grace_s=100) as supervisor:
            await supervisor.start(
                ActorSpec("sink", slow_sink, (drained, 10), inbox=sink_inbox, layer="sink")
            )
            for value in range(3):
                await sink_inbox.send(value)
            await supervisor.start(
                ActorSpec("crasher", report_and_crash, (runs_send,), restart=policy)
            )
            await supervisor.wait_shutdown_requested()
            assert trio.current_time() == start + 3  # crashes at 0, 1 and 1 + 2
    [error] = excinfo.value.exceptions
    assert (error.actor_name, error.restarts, error.window_s) == ("crasher", 2, 60)
    assert isinstance(error.__cause__, ValueError)
    assert drained == [0, 1, 2]
    assert trio.current_time() == start + 30
    assert [stats.state for stats in supervisor.statistics()] == ["stopped", "failed"]


async def test_crashes_outside_the_window_do_not_count(autojump_clock):
    runs_send, runs = trio.open_memory_channel[float](10)
    policy = RestartPolicy(max_restarts=1, window_s=2, backoff_initial_s=3)
    start = trio.current_time()
    async with open_supervisor(grace_s=1) as supervisor:
        await supervisor.start(ActorSpec("crasher", report_and_crash, (runs_send,), restart=policy))
        run_starts = [await runs.receive() - start for _ in range(4)]
    assert run_starts == [0, 3, 6, 9]


async def test_crash_of_a_non_restartable_actor_escalates_at_once(autojump_clock):
    runs_send, _runs = trio.open_memory_channel[float](10)
    start = trio.current_time()
    with pytest.RaisesGroup(pytest.RaisesExc(ValueError, match="boom")):
        async with open_supervisor(grace_s=5) as supervisor:
            await supervisor.start(ActorSpec("fragile", report_and_crash, (runs_send,)))
            await supervisor.wait_shutdown_requested()
    assert trio.current_time() == start
    [stats] = supervisor.statistics()
    assert (stats.state, stats.restarts, stats.restartable) == ("failed", 0, False)
    assert supervisor.shutdown_reason == "actor fragile failed: ValueError: boom"


async def test_actor_returning_while_running_counts_as_a_crash(autojump_clock):
    async def quits(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    with pytest.RaisesGroup(pytest.RaisesExc(RuntimeError, match="returned while")):
        async with open_supervisor(grace_s=5) as supervisor:
            await supervisor.start(ActorSpec("quitter", quits))
            await supervisor.wait_shutdown_requested()


async def test_messages_queued_behind_a_crash_reach_the_next_run(autojump_clock):
    inbox = Inbox[str]("work", 8, OverloadPolicy.BLOCK)
    handled_send, handled = trio.open_memory_channel[tuple[float, str]](10)

    async def fails_on_boom(
        receiver: InboxReceiver[str],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        task_status.started()
        async with receiver:
            async for msg in receiver:
                if msg == "boom":
                    raise ValueError("bad message")
                handled_send.send_nowait((trio.current_time(), msg))

    for msg in ("a", "boom", "b", "c"):
        inbox.send_nowait(msg)
    start = trio.current_time()
    async with open_supervisor(grace_s=1) as supervisor:
        await supervisor.start(
            ActorSpec(
                "worker", fails_on_boom, inbox=inbox, restart=RestartPolicy(backoff_initial_s=2)
            )
        )
        assert [await handled.receive() for _ in range(3)] == [
            (start, "a"),
            (start + 2, "b"),
            (start + 2, "c"),
        ]
    assert inbox.statistics().processed == 4


async def test_send_blocked_during_a_crash_completes_into_the_next_run(autojump_clock):
    inbox = Inbox[str]("work", 1, OverloadPolicy.BLOCK)
    second_run_got: list[str] = []
    runs = 0

    async def crash_in_first_run(
        receiver: InboxReceiver[str],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        nonlocal runs
        runs += 1
        task_status.started()
        async with receiver:
            if runs == 1:
                await receiver.receive()
                await trio.sleep(1)
                raise ValueError("crash while a producer waits")
            second_run_got.extend([await receiver.receive(), await receiver.receive()])
            await trio.sleep_forever()

    start = trio.current_time()
    async with open_supervisor(grace_s=1) as supervisor:
        await supervisor.start(
            ActorSpec(
                "worker",
                crash_in_first_run,
                inbox=inbox,
                restart=RestartPolicy(backoff_initial_s=0.5),
            )
        )
        async with inbox.sender() as producer:
            for msg in ("in-hand", "queued", "blocked"):
                assert await producer.send(msg) is True
        # "blocked" waited through the crash at +1 and went in when the next run took "queued".
        assert trio.current_time() == start + 1.5
        await trio.sleep(1)
    assert second_run_got == ["queued", "blocked"]


async def test_crash_logs_error_with_name_and_traceback_cancel_logs_debug(autojump_clock, caplog):
    runs = 0

    async def crash_once(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED):
        nonlocal runs
        runs += 1
        task_status.started()
        if runs == 1:
            raise ValueError("boom")
        await trio.sleep_forever()

    caplog.set_level(logging.DEBUG, logger="pipe_service.actors")
    async with open_supervisor(grace_s=1) as supervisor:
        await supervisor.start(ActorSpec("flaky", crash_once, restart=RestartPolicy()))
        await trio.sleep(1)
    [crash] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "flaky" in crash.getMessage()
    assert crash.exc_info is not None
    assert isinstance(crash.exc_info[1], ValueError)
    [cancelled] = [r for r in caplog.records if "cancelled" in r.getMessage()]
    assert (cancelled.levelno, "flaky" in cancelled.getMessage()) == (logging.DEBUG, True)
