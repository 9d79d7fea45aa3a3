"""The redis_flusher actor on virtual time with a real Redis: a fixed flush schedule, an early
flush on a nudge, exponential backoff while the database fails, and a last flush on a clean stop.

The clock is a ``MockClock`` jumped by hand: the actor's Redis and database work runs in worker
threads, which an autojumping clock does not wait for (it would jump to the next deadline while
a command is in flight). Progress is awaited with :func:`until`, which polls in real time and
never moves the virtual clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import trio
import trio.testing

from pipe_service.storage.artifact_store import count_artifacts
from pipe_service.storage.bootstrap import ArtifactStorage
from pipe_service.writebehind import flusher
from pipe_service.writebehind.flusher import FlusherStatistics, FlushPolicy, backoff_delay
from pipe_service.writebehind.queue import FlushNudge, WriteBehind
from tests.writebehind.conftest import needs_redis
from tests.writebehind.rows import row

pytestmark = needs_redis

POLICY = FlushPolicy(interval_s=10.0, backoff_max_s=35.0, lock_ttl_s=30.0)


async def until(
    condition: Callable[[], bool], *, real_s: float = 20.0, note: object = None
) -> None:
    deadline = time.monotonic() + real_s
    while not condition():
        assert time.monotonic() < deadline, (
            f"the flusher did not get there in time: {trio.current_time()} {note}"
        )
        await trio.to_thread.run_sync(time.sleep, 0.005)


async def settle() -> None:
    """Give the actor real time to act on a jump (to show that it did not)."""
    await trio.to_thread.run_sync(time.sleep, 0.2)


async def start(
    nursery: trio.Nursery, behind: WriteBehind, storage: ArtifactStorage
) -> FlusherStatistics:
    stats: FlusherStatistics = await nursery.start(
        partial(flusher.run, behind.nudges.receiver(), behind, storage, POLICY, FlusherStatistics())
    )
    return stats


def test_backoff_doubles_from_the_interval_up_to_the_cap() -> None:
    assert [backoff_delay(POLICY, n) for n in range(1, 6)] == [10, 20, 35, 35, 35]


async def test_rounds_run_on_the_interval_grid(
    mock_clock: trio.testing.MockClock,
    nursery: trio.Nursery,
    behind: WriteBehind,
    storage: ArtifactStorage,
) -> None:
    stats = await start(nursery, behind, storage)
    await until(lambda: stats.rounds == 1)  # at once, at t=0
    mock_clock.jump(9.9)
    await settle()
    assert stats.rounds == 1
    mock_clock.jump(0.1)
    await until(lambda: stats.rounds == 2)
    mock_clock.jump(10)
    await until(lambda: stats.rounds == 3, note=stats)
    assert trio.current_time() == 20


async def test_a_nudge_flushes_before_the_interval_is_up(
    mock_clock: trio.testing.MockClock,
    nursery: trio.Nursery,
    behind: WriteBehind,
    storage: ArtifactStorage,
) -> None:
    stats = await start(nursery, behind, storage)
    await until(lambda: stats.rounds == 1)
    await behind.enqueue(storage.require_codec(), [row(1)])
    behind.nudges.send_nowait(FlushNudge(1))
    await until(lambda: stats.rounds == 2)
    assert stats.entries_flushed == 1
    assert stats.nudges == 1
    assert trio.current_time() == 0


async def test_failed_flushes_back_off_and_the_flusher_resumes_when_the_database_returns(
    mock_clock: trio.testing.MockClock,
    nursery: trio.Nursery,
    behind: WriteBehind,
    storage: ArtifactStorage,
) -> None:
    database = storage.database
    await database.run_sync(
        lambda conn: conn.exec_driver_sql("ALTER TABLE pipe_artifacts RENAME TO away")
    )
    await behind.enqueue(storage.require_codec(), [row(1), row(2)])
    stats = await start(nursery, behind, storage)
    await until(lambda: stats.rounds == 1)  # failed at t=0; next try at 10
    mock_clock.jump(10)
    await until(lambda: stats.rounds == 2)  # failed at t=10; next try at 30
    mock_clock.jump(19.9)
    await settle()
    assert stats.rounds == 2
    mock_clock.jump(0.1)
    await until(lambda: stats.rounds == 3)  # failed at t=30; next try at 65 (capped at 35)
    assert stats.failed_flushes == 3
    await database.run_sync(
        lambda conn: conn.exec_driver_sql("ALTER TABLE away RENAME TO pipe_artifacts")
    )
    mock_clock.jump(34.9)
    await settle()
    assert stats.commits == 0
    mock_clock.jump(0.1)
    await until(lambda: stats.rounds == 4)
    assert stats.commits == 1
    assert stats.consecutive_failures == 0
    assert await database.run_sync(count_artifacts) == 2
    assert trio.current_time() == 65


async def test_closing_the_inbox_flushes_once_more_and_deregisters(
    mock_clock: trio.testing.MockClock, behind: WriteBehind, storage: ArtifactStorage
) -> None:
    receiver = behind.nudges.receiver()
    stats = FlusherStatistics()
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(flusher.run, receiver, behind, storage, POLICY, stats))
        await until(lambda: stats.rounds == 1)
        await behind.enqueue(storage.require_codec(), [row(1)])
        behind.nudges.close_senders()
    assert stats.entries_flushed == 1
    keys = behind.keys
    assert not await behind.link.run_sync(lambda c: c.sismember(keys.flushers, behind.flusher_id))
    assert not await behind.link.run_sync(lambda c: c.exists(keys.alive(behind.flusher_id)))
