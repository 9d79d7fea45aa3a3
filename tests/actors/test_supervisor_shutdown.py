"""Start-up and graceful stop: start order and values, the stop order, draining, the deadline.

All on virtual time (``autojump_clock``); each test asserts the exact trio clock at which the
supervisor finished stopping, which is how "drained first" and "cancelled at the deadline" are
told apart.
"""

from __future__ import annotations

import itertools
import json

import pytest
import trio
import trio.testing

from actors import (
    ActorSpec,
    Inbox,
    InboxReceiver,
    InboxSender,
    OverloadPolicy,
    RestartPolicy,
    ShutdownInProgress,
    open_supervisor,
)
from tests.actors.doubles import idle, slow_sink


async def endless_producer(
    sender: InboxSender[int], *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    task_status.started()
    async with sender:
        for value in itertools.count():
            await sender.send(value)


async def test_graceful_stop_processes_every_queued_message(autojump_clock):
    inbox = Inbox[int]("sink", 4, OverloadPolicy.BLOCK)
    received: list[int] = []
    start = trio.current_time()
    async with open_supervisor(grace_s=60) as supervisor:
        await supervisor.start(
            ActorSpec("sink", slow_sink, (received, 1), inbox=inbox, layer="sink")
        )
        await supervisor.start(ActorSpec("producer", endless_producer, (inbox.sender(),)))
        await trio.sleep(2.5)
        supervisor.request_shutdown("test")
        await supervisor.wait_shutdown_requested()
    stats = inbox.statistics()
    assert received == list(range(stats.sent))
    assert (stats.depth, stats.processed) == (0, stats.sent)
    # One message in hand plus a full inbox (4) at the request, one second each.
    assert stats.sent == 7
    assert trio.current_time() == start + 7
    assert [s.state for s in supervisor.statistics()] == ["stopped", "stopped"]


async def test_sink_that_never_finishes_is_cancelled_at_the_grace_deadline(autojump_clock):
    inbox = Inbox[int]("stuck", 4, OverloadPolicy.BLOCK)

    async def ignores_end_of_stream(
        receiver: InboxReceiver[int],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        task_status.started()
        await trio.sleep_forever()

    async with open_supervisor(grace_s=7) as supervisor:
        await supervisor.start(ActorSpec("stuck", ignores_end_of_stream, inbox=inbox, layer="sink"))
        await trio.sleep(1)
        requested_at = trio.current_time()
        supervisor.request_shutdown("test")
    assert trio.current_time() == requested_at + 7
    assert supervisor.statistics()[0].state == "stopped"


async def test_request_shutdown_is_idempotent_and_keeps_the_first_deadline(autojump_clock):
    start = trio.current_time()
    async with open_supervisor(grace_s=5) as supervisor:
        await supervisor.start(ActorSpec("idle", idle, layer="sink"))
        supervisor.request_shutdown("first")
        await trio.sleep(3)
        supervisor.request_shutdown("second")
        assert supervisor.shutdown_reason == "first"
        await trio.sleep_forever()  # cancelled by the stop deadline
    assert trio.current_time() == start + 5


async def test_wait_shutdown_requested_returns_when_shutdown_is_requested(autojump_clock):
    start = trio.current_time()
    async with open_supervisor(grace_s=1) as supervisor, trio.open_nursery() as nursery:
        nursery.start_soon(_request_after, supervisor, 3)
        assert supervisor.shutdown_reason is None
        await supervisor.wait_shutdown_requested()
        assert trio.current_time() == start + 3
    assert supervisor.shutdown_reason == "admin"


async def _request_after(supervisor, seconds: float) -> None:
    await trio.sleep(seconds)
    supervisor.request_shutdown("admin")


async def test_start_returns_the_value_passed_to_started():
    async def ready(*, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started("unix:/tmp/svc.sock")
        await trio.sleep_forever()

    with trio.fail_after(5):
        async with open_supervisor(grace_s=1) as supervisor:
            assert await supervisor.start(ActorSpec("front", ready)) == "unix:/tmp/svc.sock"


async def test_startup_failure_raises_at_the_start_call_site_without_retry():
    attempts = 0

    async def cannot_bind(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED):
        nonlocal attempts
        attempts += 1
        raise OSError("address in use")

    with trio.fail_after(5):
        async with open_supervisor(grace_s=1) as supervisor:
            with pytest.raises(OSError, match="address in use"):
                await supervisor.start(ActorSpec("front", cannot_bind, restart=RestartPolicy()))
    [stats] = supervisor.statistics()
    assert (attempts, stats.state, stats.last_error) == (1, "failed", "OSError: address in use")


async def test_producers_stop_in_reverse_start_order_before_sinks_close(autojump_clock):
    events: list[str] = []
    inbox = Inbox[int]("sink", 1, OverloadPolicy.BLOCK)

    async def producer(name: str, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED):
        task_status.started()
        try:
            await trio.sleep_forever()
        finally:
            events.append(f"{name} cancelled")

    async def sink(receiver: InboxReceiver[int], *, task_status: trio.TaskStatus[None]):
        task_status.started()
        async for _ in receiver:
            pass
        events.append("sink saw end-of-stream")

    async with open_supervisor(grace_s=10) as supervisor:
        await supervisor.start(ActorSpec("sink", sink, inbox=inbox, layer="sink"))
        await supervisor.start(ActorSpec("tools", producer, ("tools",)))
        await supervisor.start(ActorSpec("front", producer, ("front",)))
    assert events == ["front cancelled", "tools cancelled", "sink saw end-of-stream"]


async def test_producer_that_stops_on_shutdown_gets_to_finish(autojump_clock):
    finished_at: list[float] = []

    async def front(supervisor, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED):
        task_status.started()
        await supervisor.wait_shutdown_requested()
        await trio.sleep(2)  # finishing open requests
        finished_at.append(trio.current_time())

    start = trio.current_time()
    async with open_supervisor(grace_s=10) as supervisor:
        await supervisor.start(ActorSpec("front", front, (supervisor,), stops_on_shutdown=True))
    assert finished_at == [start + 2]
    assert trio.current_time() == start + 2
    assert supervisor.statistics()[0].state == "stopped"


async def test_sink_without_inbox_is_cancelled_once_producers_stopped(autojump_clock):
    start = trio.current_time()
    async with open_supervisor(grace_s=10) as supervisor:
        await supervisor.start(ActorSpec("cleanup", idle, layer="sink"))
    assert trio.current_time() == start


async def test_start_after_shutdown_raises_but_is_not_an_error_of_the_context():
    with trio.fail_after(5):
        async with open_supervisor(grace_s=1) as supervisor:
            supervisor.request_shutdown("signal SIGTERM")
            with pytest.raises(ShutdownInProgress, match="SIGTERM"):
                await supervisor.start(ActorSpec("front", idle))
            await supervisor.start(ActorSpec("late", idle))  # propagates, then is dropped
    assert supervisor.statistics() == []


async def test_body_error_is_raised_after_sinks_drain(autojump_clock):
    inbox = Inbox[int]("sink", 4, OverloadPolicy.BLOCK)
    received: list[int] = []
    start = trio.current_time()
    with pytest.RaisesGroup(pytest.RaisesExc(KeyError, match="config")):
        async with open_supervisor(grace_s=60) as supervisor:
            await supervisor.start(
                ActorSpec("sink", slow_sink, (received, 2), inbox=inbox, layer="sink")
            )
            for value in range(3):
                await inbox.send(value)
            raise KeyError("config")
    assert received == [0, 1, 2]
    assert trio.current_time() == start + 6


async def test_statistics_report_each_actor_with_its_inbox_in_start_order(autojump_clock):
    inbox = Inbox[int]("db_writer", 8, OverloadPolicy.BLOCK)
    received: list[int] = []
    async with open_supervisor(grace_s=60) as supervisor:
        await supervisor.start(
            ActorSpec("db_writer", slow_sink, (received, 1), inbox=inbox, layer="sink")
        )
        await supervisor.start(ActorSpec("front", idle, restart=RestartPolicy()))
        for value in range(5):
            await inbox.send(value)
        await trio.sleep(2.5)
        sink, front = supervisor.statistics()
        assert supervisor.uptime_s == 2.5
    assert (sink.name, sink.layer, sink.state, sink.restartable) == (
        "db_writer",
        "sink",
        "running",
        False,
    )
    assert sink.inbox is not None
    # One processed and slept on, two done, so three handed out; two still queued.
    assert (sink.inbox.processed, sink.inbox.depth, sink.inbox.sent) == (3, 2, 5)
    assert (front.name, front.layer, front.restartable, front.inbox) == (
        "front",
        "producer",
        True,
        None,
    )
    assert json.loads(json.dumps(sink.as_dict()))["inbox"]["policy"] == "block"
