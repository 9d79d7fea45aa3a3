"""The write-behind queue and one flush round against a real Redis and a real SQLite file:
entries reach the pending list and the cache atomically, a round drains them in batches under
the fleet lock, a failed commit re-queues in order, a dead flusher's claims are recovered, and
a re-delivered entry never duplicates a row."""

from __future__ import annotations

import json
from functools import partial

import sqlalchemy as sa

from pipe_service.redis_link import RedisLink
from pipe_service.storage.artifact_store import Placement, count_artifacts, load_for_replay
from pipe_service.storage.bootstrap import ArtifactStorage
from pipe_service.storage.schema import artifacts
from pipe_service.writebehind.flusher import FlusherStatistics, FlushPolicy, flush_round
from pipe_service.writebehind.queue import WriteBehind
from tests.writebehind.conftest import make_behind, needs_redis
from tests.writebehind.rows import row

pytestmark = needs_redis


async def pending(link: RedisLink) -> int:
    return int(await link.run_sync(lambda client: client.llen(link.keys.pending)))


async def stored(storage: ArtifactStorage) -> int:
    return await storage.database.run_sync(count_artifacts)


async def test_an_enqueued_batch_is_pending_and_cached_but_not_yet_in_the_database(
    behind: WriteBehind, storage: ArtifactStorage
) -> None:
    rows = [row(1), row(2)]
    depth = await behind.enqueue(storage.require_codec(), rows)
    assert depth == 1
    assert await pending(behind.link) == 1
    assert await stored(storage) == 0
    load, remaining = await behind.read_cached(
        storage.require_codec(), [r.id for r in rows], owner="user:u", chat_id="c"
    )
    assert remaining == []
    assert load.owned[rows[1].id].item == rows[1].item


async def test_the_cache_never_hands_out_another_owners_row(
    behind: WriteBehind, storage: ArtifactStorage
) -> None:
    mine, theirs = row(1), row(2, owner="user:other")
    await behind.enqueue(storage.require_codec(), [mine, theirs])
    load, remaining = await behind.read_cached(
        storage.require_codec(),
        [mine.id, theirs.id, "01JDX0Q9J8Z5M8K3V3S9E8Y7QF"],
        owner="user:u",
        chat_id="c",
    )
    assert list(load.owned) == [mine.id]
    assert load.foreign == [theirs.id]
    assert remaining == ["01JDX0Q9J8Z5M8K3V3S9E8Y7QF"]


async def test_a_round_drains_every_entry_in_batches_of_the_flush_size(
    behind: WriteBehind, storage: ArtifactStorage
) -> None:
    for n in range(5):
        await behind.enqueue(storage.require_codec(), [row(n), row(n)])
    stats = FlusherStatistics()
    assert await flush_round(behind, storage, FlushPolicy(batch=2), stats)
    assert stats.commits == 3  # 2 + 2 + 1 entries
    assert stats.entries_flushed == 5
    assert await stored(storage) == 10
    assert await pending(behind.link) == 0
    assert stats.last_lag_s is not None


async def test_a_round_does_nothing_while_another_flusher_holds_the_lock(
    behind: WriteBehind, storage: ArtifactStorage
) -> None:
    await behind.enqueue(storage.require_codec(), [row()])
    await behind.link.run_sync(lambda c: c.set(behind.keys.lock, "someone-else", px=10_000))
    stats = FlusherStatistics()
    assert await flush_round(behind, storage, FlushPolicy(), stats)
    assert stats.lock_busy == 1
    assert await stored(storage) == 0
    # and our release never deletes another holder's lock
    assert await behind.link.run_sync(lambda c: c.get(behind.keys.lock)) == b"someone-else"


async def test_the_lock_is_released_after_a_round(
    behind: WriteBehind, storage: ArtifactStorage
) -> None:
    await behind.enqueue(storage.require_codec(), [row()])
    assert await flush_round(behind, storage, FlushPolicy(), FlusherStatistics())
    assert await behind.link.run_sync(lambda c: c.exists(behind.keys.lock)) == 0


async def test_release_deletes_the_lock_only_with_the_owners_token(link: RedisLink) -> None:
    await link.run_sync(lambda c: c.set(link.keys.lock, "mine", px=10_000))
    assert await link.run_script(link.release_if_owner, keys=[link.keys.lock], args=["x"]) == 0
    assert await link.run_script(link.release_if_owner, keys=[link.keys.lock], args=["mine"]) == 1


async def test_a_failed_commit_puts_the_entries_back_in_their_order(
    behind: WriteBehind, storage: ArtifactStorage
) -> None:
    codec = storage.require_codec()
    for n in range(3):
        await behind.enqueue(codec, [row(n)])
    before = await behind.link.run_sync(lambda c: c.lrange(behind.keys.pending, 0, -1))
    await storage.database.run_sync(
        lambda conn: conn.exec_driver_sql("ALTER TABLE pipe_artifacts RENAME TO away")
    )
    stats = FlusherStatistics()
    assert not await flush_round(behind, storage, FlushPolicy(batch=2), stats)
    assert stats.consecutive_failures == 1
    assert stats.last_error is not None
    assert stats.last_error.startswith("database:")
    after = await behind.link.run_sync(lambda c: c.lrange(behind.keys.pending, 0, -1))
    assert after == before
    await storage.database.run_sync(
        lambda conn: conn.exec_driver_sql("ALTER TABLE away RENAME TO pipe_artifacts")
    )
    assert await flush_round(behind, storage, FlushPolicy(batch=2), stats)
    assert stats.consecutive_failures == 0
    assert await stored(storage) == 3


async def test_a_dead_flushers_claimed_entries_are_recovered_and_flushed(
    link: RedisLink, storage: ArtifactStorage
) -> None:
    dead, alive = make_behind(link), make_behind(link)
    await dead.enqueue(storage.require_codec(), [row(1), row(2)])
    # the dead flusher registered, claimed the entry, and was killed before committing
    await link.run_sync(lambda c: c.sadd(link.keys.flushers, dead.flusher_id))
    await link.run_sync(
        lambda c: c.lmove(link.keys.pending, link.keys.processing(dead.flusher_id), "RIGHT", "LEFT")
    )
    assert await pending(link) == 0
    stats = FlusherStatistics()
    assert await flush_round(alive, storage, FlushPolicy(), stats)
    assert stats.recovered_entries == 1
    assert await stored(storage) == 2
    assert not await link.run_sync(lambda c: c.sismember(link.keys.flushers, dead.flusher_id))


async def test_a_live_flushers_claims_are_left_alone(
    link: RedisLink, storage: ArtifactStorage
) -> None:
    busy, other = make_behind(link), make_behind(link)
    await busy.enqueue(storage.require_codec(), [row(1)])
    await link.run_sync(lambda c: c.sadd(link.keys.flushers, busy.flusher_id))
    await link.run_sync(lambda c: c.set(link.keys.alive(busy.flusher_id), "1", px=10_000))
    await link.run_sync(
        lambda c: c.lmove(link.keys.pending, link.keys.processing(busy.flusher_id), "RIGHT", "LEFT")
    )
    stats = FlusherStatistics()
    assert await flush_round(other, storage, FlushPolicy(), stats)
    assert stats.recovered_entries == 0
    assert await stored(storage) == 0


async def test_a_redelivered_entry_stores_each_row_once(
    behind: WriteBehind, storage: ArtifactStorage
) -> None:
    await behind.enqueue(storage.require_codec(), [row(1), row(2)])
    [entry] = await behind.link.run_sync(lambda c: c.lrange(behind.keys.pending, 0, -1))
    stats = FlusherStatistics()
    assert await flush_round(behind, storage, FlushPolicy(), stats)
    await behind.link.run_sync(lambda c: c.lpush(behind.keys.pending, entry))  # delivered again
    assert await flush_round(behind, storage, FlushPolicy(), stats)
    assert stats.rows_flushed == 4
    assert stats.rows_new == 2
    assert await stored(storage) == 2


async def test_a_place_correction_reaches_the_cache_and_the_database(
    behind: WriteBehind, storage: ArtifactStorage
) -> None:
    codec = storage.require_codec()
    early = row(0)
    await behind.enqueue(codec, [early])
    await behind.enqueue(codec, [], placements=[Placement("user:u", early.id, 3, "call_7")])
    load, _ = await behind.read_cached(codec, [early.id], owner="user:u", chat_id="c")
    assert (load.owned[early.id].position, load.owned[early.id].anchor) == (3, "call_7")
    assert await flush_round(behind, storage, FlushPolicy(), FlusherStatistics())
    found = await storage.database.run_sync(
        partial(load_for_replay, codec=codec, ids=[early.id], owner="user:u", chat_id="c", now=0)
    )
    assert (found.owned[early.id].position, found.owned[early.id].anchor) == (3, "call_7")


async def test_a_consumed_row_leaves_the_cache_and_the_database(
    behind: WriteBehind, storage: ArtifactStorage
) -> None:
    codec = storage.require_codec()
    once = row(0)
    await behind.enqueue(codec, [once])
    await behind.enqueue(codec, [], deletes=[("user:u", [once.id])])
    _, remaining = await behind.read_cached(codec, [once.id], owner="user:u", chat_id="c")
    assert remaining == [once.id]
    assert await flush_round(behind, storage, FlushPolicy(), FlusherStatistics())
    assert await stored(storage) == 0


async def test_an_entry_that_cannot_be_decoded_is_dropped_not_retried_forever(
    behind: WriteBehind, storage: ArtifactStorage
) -> None:
    await behind.link.run_sync(lambda c: c.lpush(behind.keys.pending, b"not json"))
    await behind.enqueue(storage.require_codec(), [row()])
    stats = FlusherStatistics()
    assert await flush_round(behind, storage, FlushPolicy(), stats)
    assert stats.dropped_entries == 1
    assert await stored(storage) == 1
    assert await pending(behind.link) == 0


async def test_the_pending_depth_past_the_nudge_size_nudges_the_flusher(
    link: RedisLink, storage: ArtifactStorage
) -> None:
    behind = make_behind(link, flush_nudge_entries=3)
    receiver = behind.nudges.receiver()
    for n in range(2):
        await behind.enqueue(storage.require_codec(), [row(n)])
    assert behind.nudges.statistics().depth == 0
    await behind.enqueue(storage.require_codec(), [row(3)])
    assert receiver.receive_nowait().depth == 3


async def test_a_pending_list_over_the_threshold_is_a_warning_in_the_statistics(
    link: RedisLink, storage: ArtifactStorage
) -> None:
    behind = make_behind(link, pending_warn_threshold=2)
    for n in range(3):
        await behind.enqueue(storage.require_codec(), [row(n)])
    assert behind.statistics().pending_warning
    assert await flush_round(behind, storage, FlushPolicy(), FlusherStatistics())
    assert not behind.statistics().pending_warning


async def test_rows_are_stored_with_the_columns_the_database_writer_would_give_them(
    behind: WriteBehind, storage: ArtifactStorage
) -> None:
    original = row(4)
    await behind.enqueue(storage.require_codec(), [original])
    await flush_round(behind, storage, FlushPolicy(), FlusherStatistics())
    stored_row = await storage.database.run_sync(
        lambda conn: conn.execute(sa.select(artifacts)).one()
    )
    assert (stored_row.id, stored_row.owner, stored_row.message_id, stored_row.position) == (
        original.id,
        "user:u",
        "m4",
        4,
    )
    assert stored_row.key_id == storage.require_codec().current_key_id


async def test_an_entry_the_database_refuses_is_dropped_and_the_rest_land(
    behind: WriteBehind, storage: ArtifactStorage
) -> None:
    codec = storage.require_codec()
    await behind.enqueue(codec, [row(1)])
    [good] = await behind.link.run_sync(lambda c: c.lrange(behind.keys.pending, 0, -1))
    refused = json.loads(good)
    refused["rows"][0]["id"] = "01JDX0Q9J8Z5M8K3V3S9E8Y7QZ"
    refused["rows"][0]["item_type"] = None  # NOT NULL: the database refuses it as data
    await behind.link.run_sync(lambda c: c.lpush(behind.keys.pending, json.dumps(refused)))
    await behind.enqueue(codec, [row(2)])
    stats = FlusherStatistics()
    assert await flush_round(behind, storage, FlushPolicy(), stats)
    assert stats.dropped_entries == 1
    assert stats.consecutive_failures == 0
    assert await stored(storage) == 2
    assert await pending(behind.link) == 0
