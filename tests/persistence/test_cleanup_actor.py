"""The cleanup actor on virtual time: runs on a fixed grid (no drift, missed deadlines
skipped), deletes by last access in batches, and survives a failing database.

The grid test runs on ``autojump_clock`` and observes the actor through its own events only.
The other tests jump ``mock_clock`` by hand: a missed deadline cannot happen on an autojumping
clock, and a ``fail_after`` deadline would be jumped to while a delete runs in its worker
thread. The wall clock the actor reads is derived from the virtual one, so "a day later" is a
jump too.
"""

from __future__ import annotations

from functools import partial

import sqlalchemy as sa
import trio
import trio.testing

from pipe_service.persistence import cleanup_actor
from pipe_service.persistence.cleanup_actor import CleanupPolicy, CleanupStatistics
from pipe_service.storage.artifact_store import NewArtifact, count_artifacts, insert_artifacts
from pipe_service.storage.bootstrap import ArtifactStorage
from pipe_service.storage.codec import PayloadCodec
from pipe_service.storage.engine import Database
from pipe_service.storage.ids import UlidGenerator

DAY = 86400.0
HOUR = 3600.0
WALL_START = 1_800_000_000.0
IDS = UlidGenerator()


def rows(count: int) -> list[NewArtifact]:
    return [
        NewArtifact(
            id=IDS.new(),
            owner="user:u",
            chat_id="c",
            message_id="m",
            model="x/y",
            item={"type": "function_call_output", "call_id": "c", "output": "o"},
            position=n,
        )
        for n in range(count)
    ]


async def start(
    nursery: trio.Nursery, database: Database, codec: PayloadCodec, *, batch: int = 100
) -> CleanupStatistics:
    stats: CleanupStatistics = await nursery.start(
        partial(
            cleanup_actor.run,
            ArtifactStorage(database, codec),
            CleanupPolicy(retention_days=1, interval_s=HOUR, batch=batch),
            CleanupStatistics(),
            wall_clock=lambda: WALL_START + trio.current_time(),
        )
    )
    return stats


async def test_cleanup_runs_at_once_then_every_interval_and_deletes_by_age(
    nursery: trio.Nursery,
    database: Database,
    codec: PayloadCodec,
    mock_clock: trio.testing.MockClock,
) -> None:
    await database.run_sync(
        partial(insert_artifacts, codec=codec, rows=rows(3), now=WALL_START - 2 * DAY)
    )
    fresh = rows(2)
    await database.run_sync(partial(insert_artifacts, codec=codec, rows=fresh, now=WALL_START))

    stats = await start(nursery, database, codec)
    await stats.wait_finished_runs(1)
    assert (stats.last_run_at, stats.deleted) == (0.0, 3)

    mock_clock.jump(HOUR)
    await stats.wait_finished_runs(2)
    assert (stats.last_run_at, stats.deleted) == (HOUR, 3)

    # A day later the fresh rows expire; the deadlines in between were skipped, not replayed.
    mock_clock.jump(DAY + 0.5 * HOUR - HOUR)
    await stats.wait_finished_runs(3)
    assert stats.runs == 3
    assert stats.last_run_at == DAY + 0.5 * HOUR
    mock_clock.jump(0.5 * HOUR)
    await stats.wait_finished_runs(4)
    assert stats.last_run_at == DAY + HOUR  # still on the hourly grid: no drift
    assert stats.deleted == 5
    assert await database.run_sync(count_artifacts) == 0


async def test_a_large_backlog_is_deleted_in_batches(
    nursery: trio.Nursery,
    database: Database,
    codec: PayloadCodec,
    mock_clock: trio.testing.MockClock,
) -> None:
    await database.run_sync(
        partial(insert_artifacts, codec=codec, rows=rows(25), now=WALL_START - 2 * DAY)
    )
    stats = await start(nursery, database, codec, batch=10)
    await stats.wait_finished_runs(1)
    assert stats.deleted == 25


async def test_a_failing_run_is_counted_and_the_next_one_still_comes(
    nursery: trio.Nursery,
    database: Database,
    codec: PayloadCodec,
    mock_clock: trio.testing.MockClock,
) -> None:
    await database.run_sync(lambda c: c.execute(sa.text("ALTER TABLE pipe_artifacts RENAME TO x")))
    stats = await start(nursery, database, codec)
    await stats.wait_finished_runs(1)
    assert stats.failures == 1
    assert stats.last_error
    await database.run_sync(lambda c: c.execute(sa.text("ALTER TABLE x RENAME TO pipe_artifacts")))
    mock_clock.jump(HOUR)
    await stats.wait_finished_runs(2)
    assert stats.failures == 1


async def test_on_autojump_time_runs_land_exactly_on_the_hourly_grid_for_a_day(
    nursery: trio.Nursery,
    database: Database,
    codec: PayloadCodec,
    autojump_clock: trio.testing.MockClock,
) -> None:
    # No fail_after here: its deadline would be the next thing the autojumping clock jumps to
    # while a delete runs in its worker thread. The test waits on the actor's own events only.
    await database.run_sync(partial(insert_artifacts, codec=codec, rows=rows(2), now=WALL_START))
    stats = await start(nursery, database, codec)
    runs_per_day = int(DAY / HOUR)
    for run in range(1, runs_per_day + 2):  # runs at 0 h, 1 h, … 24 h
        await stats.wait_finished_runs(run)
        assert stats.last_run_at == (run - 1) * HOUR  # no drift, however long deletes take
        assert stats.deleted == 0  # up to t = DAY nothing is older than a day
    await stats.wait_finished_runs(runs_per_day + 2)
    assert stats.last_run_at == DAY + HOUR
    assert stats.deleted == 2
