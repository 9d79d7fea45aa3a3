"""Two sidecar processes sharing a PostgreSQL and a Redis of the test's own: nothing whose
marker reached a client is lost when a sidecar is SIGKILLed, when Redis stops, or when the
database stops; every such artifact is replayable from either sidecar afterwards, none stored
twice. The counts are printed (``-s``) and asserted.

Real processes, real sockets, a real ``redis-server`` and a real PostgreSQL cluster started by
the test (so they can be stopped safely); only OpenRouter is simulated. Bounded: a few dozen
chats, each test well under a minute on a quiet machine.
"""

from __future__ import annotations

import os
import random
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
import trio

from pipe_service.config.persistence import PersistenceSettings
from pipe_service.storage.bootstrap import prepare_artifact_storage
from pipe_service.storage.engine import Database
from pipe_service.storage.schema import artifacts
from tests.writebehind.fleet import FLEET_KEY, Chat, FleetSidecar, ask, replayed_reasoning
from tests.writebehind.servers import PostgresServer, RedisServer

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.skipif(
        not (os.environ.get("REDIS_URL") and os.environ.get("DATABASE_URL")),
        reason="REDIS_URL/DATABASE_URL unset: the fleet tests run where Redis and PostgreSQL "
        "are installed (CI sets both)",
    ),
]

PREFIX = "fleet"
CHATTERS = 3
THINK_S = 0.2  # keeps a run at a few dozen chats while three restarts take their time
REPLAY_BATCH = 16  # concurrent follow-ups; well under the simulator's request log size


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def database_url(postgres: PostgresServer) -> str:
    return postgres.create_database(f"fleet_{secrets.token_hex(4)}")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def fleet_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PIPE_SERVICE_REDIS__KEY_PREFIX": PREFIX,
        "PIPE_SERVICE_REDIS__FLUSH_INTERVAL_S": "0.5",
        "PIPE_SERVICE_REDIS__FLUSH_BACKOFF_MAX_S": "1",
        "PIPE_SERVICE_REDIS__LOCK_TTL_S": "2",
        "PIPE_SERVICE_REDIS__OPERATION_TIMEOUT_S": "2",
        "PIPE_SERVICE_REDIS__BREAKER_WINDOW_S": "1",
        "PIPE_SERVICE_PERSISTENCE__ACK_WAIT_S": "10",
        "PIPE_SERVICE_DB_POOL_SIZE": "3",
        "PIPE_SERVICE_SIMULATOR_REQUEST_LOG": "100",
        # One process per sidecar: a SIGKILL then kills the writer itself, and /status counts
        # every write (with several workers it answers for one of them).
        "PIPE_SERVICE_WORKERS": "1",
        **extra,
    }


async def wait_drained(redis_url: str, *, real_s: float = 60) -> None:
    """Until no entry is pending or claimed by any flusher."""
    client = redis.Redis.from_url(redis_url)

    def left() -> int:
        keys = [f"{PREFIX}:wb:pending", *client.scan_iter(match=f"{PREFIX}:wb:processing:*")]
        return sum(int(client.llen(key)) for key in keys)

    def wait() -> None:
        deadline = time.monotonic() + real_s
        while left():
            assert time.monotonic() < deadline, "the flushers did not drain Redis"
            time.sleep(0.2)

    try:
        await trio.to_thread.run_sync(wait)
    finally:
        client.close()


async def wait_breaker_not_open(sidecar: FleetSidecar) -> None:
    """Until the write path's Redis breaker lets a write try Redis again (its window is 1 s)."""
    while (await sidecar.status())["persistence"]["write_behind"]["breaker"] == "open":
        await trio.to_thread.run_sync(time.sleep, 0.1)


async def stored_rows(database_url: str, tmp_path: Path) -> dict[str, dict[str, object]]:
    """Every stored row, decoded with the fleet key: id → item."""
    database = Database.open(database_url, pool_size=1)
    try:
        codec = await prepare_artifact_storage(
            database, PersistenceSettings(encryption_key=FLEET_KEY), tmp_path, create_key=False
        )
        rows = await database.run_sync(
            lambda c: c.execute(sa.select(artifacts.c.id, artifacts.c.payload)).all()
        )
        return {row.id: codec.decode(bytes(row.payload)) for row in rows}
    finally:
        database.dispose()


async def check_replay(sidecars: list[FleetSidecar], chats: list[Chat]) -> dict[str, int]:
    """Replay every chat from every sidecar; count the chats whose reasoning came back whole."""
    counts: dict[str, int] = {}
    for number, sidecar in enumerate(sidecars):
        whole = 0
        for start in range(0, len(chats), REPLAY_BATCH):
            batch = chats[start : start + REPLAY_BATCH]
            replayed = await replayed_reasoning(sidecar, batch)
            whole += sum(
                1 for chat, n in zip(batch, replayed, strict=True) if n == len(chat.markers)
            )
        counts[f"replayed_whole_via_sidecar_{number}"] = whole
    return counts


def assert_no_duplicates(rows: dict[str, dict[str, object]], marked: set[str]) -> int:
    """No upstream item is stored under two ids; every marked id is stored. Returns orphans
    (rows of turns cut by a kill: stored early, never named by a marker)."""
    upstream_ids = [str(item.get("id")) for item in rows.values()]
    assert len(upstream_ids) == len(set(upstream_ids)), "an item was stored twice"
    assert marked <= set(rows), f"lost: {sorted(marked - set(rows))[:5]}"
    return len(set(rows) - marked)


async def test_sigkilled_sidecars_lose_no_artifact_whose_marker_reached_a_client(
    tmp_path: Path, database_url: str, redis_server: RedisServer
) -> None:
    env = fleet_env(database_url, redis_server.url)
    sidecars = [FleetSidecar(tmp_path / f"sidecar-{n}", **env) for n in range(2)]
    chats: list[Chat] = []
    cut = 0
    kills = 0
    wanted_chats, wanted_kills = 30, 3
    rng = random.Random(16)

    async def chatter(number: int, done: trio.Event) -> None:
        nonlocal cut
        n = 0
        while not done.is_set():
            n += 1
            target = sidecars[(number + n) % 2]
            if not target.up:
                await trio.sleep(0.05)
                continue
            chat = await ask(target, f"client {number} question {n}")
            if chat is None:
                cut += 1
            elif chat.markers:
                chats.append(chat)
            await trio.sleep(THINK_S)

    async def killer(done: trio.Event) -> None:
        nonlocal kills
        while kills < wanted_kills or len(chats) < wanted_chats:
            await trio.sleep(rng.uniform(0.3, 1.2))
            victim = sidecars[rng.randrange(2)]
            await victim.kill()
            kills += 1
            await victim.start()
            await trio.sleep(rng.uniform(0.2, 0.6))  # let traffic reach the restarted one
        done.set()

    try:
        with trio.fail_after(150):
            for sidecar in sidecars:
                await sidecar.start()
            done = trio.Event()
            async with trio.open_nursery() as nursery:
                for number in range(CHATTERS):
                    nursery.start_soon(chatter, number, done)
                nursery.start_soon(killer, done)
            await wait_drained(redis_server.url)
            # Claims of killed flushers that the survivors re-queued (when a kill landed
            # between a flusher's LMOVE and its commit; counted since each one's last start).
            recovered = 0
            for sidecar in sidecars:
                flusher = (await sidecar.status())["persistence"]["write_behind"]["flusher"]
                recovered += flusher["recovered_entries"]
            rows = await stored_rows(database_url, tmp_path)
            replay = await check_replay(sidecars, chats)
    finally:
        for sidecar in sidecars:
            await sidecar.stop()
    marked = {marker for chat in chats for marker in chat.markers}
    orphans = assert_no_duplicates(rows, marked)
    counts = {
        "chats_with_markers": len(chats),
        "marked_artifacts": len(marked),
        "requests_failed_by_kills": cut,
        "kills": kills,
        "stored_rows": len(rows),
        "orphan_rows": orphans,
        "recovered_entries": recovered,
        **replay,
    }
    print("fleet durability:", counts)
    assert kills >= wanted_kills
    assert len(chats) >= wanted_chats
    assert replay["replayed_whole_via_sidecar_0"] == len(chats)
    assert replay["replayed_whole_via_sidecar_1"] == len(chats)


async def test_with_redis_stopped_writes_fall_back_to_the_database_and_the_flusher_resumes(
    tmp_path: Path, database_url: str, redis_server: RedisServer
) -> None:
    # A long interval keeps the first answers pending in Redis when it stops; the fifth
    # pending entry nudges the flusher once Redis is back.
    env = fleet_env(
        database_url,
        redis_server.url,
        PIPE_SERVICE_REDIS__FLUSH_INTERVAL_S="300",
        PIPE_SERVICE_REDIS__FLUSH_BACKOFF_MAX_S="600",
        PIPE_SERVICE_REDIS__FLUSH_NUDGE_ENTRIES="5",
    )
    sidecar = FleetSidecar(tmp_path / "sidecar", **env)
    try:
        with trio.fail_after(120):
            await sidecar.start()
            before = [await ask(sidecar, f"before {n}") for n in range(4)]
            pending = (await sidecar.status())["persistence"]["write_behind"]["pending"]
            await trio.to_thread.run_sync(redis_server.stop)
            during = [await ask(sidecar, f"during {n}") for n in range(4)]
            fallback = (await sidecar.status())["persistence"]["write_behind"]
            await trio.to_thread.run_sync(redis_server.start)
            # Answer until one of them nudges the flusher (a write may still fall back to the
            # database while Redis is coming back; that answer is kept too).
            after: list[Chat | None] = []
            for n in range(12):
                await wait_breaker_not_open(sidecar)
                after.append(await ask(sidecar, f"after {n}"))
                status = await sidecar.status()
                if status["persistence"]["write_behind"]["flusher"]["nudges"]:
                    break
            await wait_drained(redis_server.url)
            flusher = (await sidecar.status())["persistence"]["write_behind"]["flusher"]
            chats = [chat for chat in [*before, *during, *after] if chat is not None]
            rows = await stored_rows(database_url, tmp_path)
            replay = await check_replay([sidecar], chats)
    finally:
        await sidecar.stop()
    marked = {marker for chat in chats for marker in chat.markers}
    counts = {
        "chats": len(chats),
        "pending_when_redis_stopped": pending,
        "direct_writes_while_down": fallback["direct_writes"],
        "flusher_nudges": flusher["nudges"],
        "rows_flushed": flusher["rows_flushed"],
        "marked": len(marked),
        "stored": len(rows),
        **replay,
    }
    print("redis stop:", counts)
    assert len(chats) == 8 + len(after)
    assert all(chat.markers for chat in chats)
    assert pending >= 4
    assert fallback["direct_writes"] >= 4
    assert flusher["nudges"] >= 1
    assert_no_duplicates(rows, marked)
    assert replay["replayed_whole_via_sidecar_0"] == len(chats)


async def test_with_the_database_stopped_artifacts_wait_in_redis_and_land_when_it_returns(
    tmp_path: Path, postgres: PostgresServer, database_url: str, redis_server: RedisServer
) -> None:
    sidecar = FleetSidecar(tmp_path / "sidecar", **fleet_env(database_url, redis_server.url))
    try:
        with trio.fail_after(120):
            await sidecar.start()
            before = [await ask(sidecar, f"before {n}") for n in range(3)]
            await wait_drained(redis_server.url)
            await trio.to_thread.run_sync(postgres.stop)
            try:
                during = [await ask(sidecar, f"during {n}") for n in range(4)]
                waiting = (await sidecar.status())["persistence"]["write_behind"]
                # replay during the outage is served by the Redis read cache
                outage_replay = await check_replay([sidecar], [c for c in during if c])
            finally:
                await trio.to_thread.run_sync(postgres.start)
            await wait_drained(redis_server.url)
            flusher = (await sidecar.status())["persistence"]["write_behind"]["flusher"]
            chats = [chat for chat in [*before, *during] if chat is not None]
            rows = await stored_rows(database_url, tmp_path)
            replay = await check_replay([sidecar], chats)
    finally:
        await sidecar.stop()
    marked = {marker for chat in chats for marker in chat.markers}
    counts = {
        "chats": len(chats),
        "pending_while_db_down": waiting["pending"],
        "failed_flushes": flusher["failed_flushes"],
        "marked": len(marked),
        "stored": len(rows),
        "replayed_from_cache_during_outage": outage_replay["replayed_whole_via_sidecar_0"],
        **replay,
    }
    print("database stop:", counts)
    assert len(chats) == 7
    assert all(chat.markers for chat in chats)
    assert flusher["failed_flushes"] >= 1
    assert outage_replay["replayed_whole_via_sidecar_0"] == 4
    assert_no_duplicates(rows, marked)
    assert replay["replayed_whole_via_sidecar_0"] == 7
