"""Dead letters from the Redis flusher, end to end with real parts: a real Redis (own key
prefix), a real SQLite file or PostgreSQL schema of this test's own, and ``pipe-service dlq``
run as an operator runs it (a subprocess, ``--json``).

The artifact database dies during a flush; after ``dead_letter_after`` failed rounds the batch
becomes dead letters (Redis is left empty, nothing is lost); the database comes back and
``dlq retry --all`` restores the rows. Virtual time: the clock is jumped by hand (see
``test_flusher_actor.py`` for why not autojump).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import trio
import trio.testing

from pipe_service.redis_link import RedisLink
from pipe_service.storage.artifact_store import count_artifacts, read_artifact
from pipe_service.storage.bootstrap import ArtifactStorage
from pipe_service.storage.codec import PayloadCodec
from pipe_service.storage.dead_letters import KIND_PENDING_ENTRY, KIND_UNDECODABLE, DeadLetters
from pipe_service.storage.engine import Database
from pipe_service.storage.keys import KeyRing
from pipe_service.storage.migrations import kdf_salt, upgrade
from pipe_service.writebehind import flusher
from pipe_service.writebehind.dead_letter_retry import retry_letter
from pipe_service.writebehind.flusher import FlusherStatistics, FlushPolicy
from pipe_service.writebehind.queue import WriteBehind
from tests.persistence.databases import BACKENDS, database_url
from tests.writebehind.conftest import make_behind, needs_redis
from tests.writebehind.rows import row
from tests.writebehind.test_flusher_actor import settle, until

pytestmark = needs_redis

SECRET = "fleet key"
POLICY = FlushPolicy(interval_s=10.0, backoff_max_s=35.0, lock_ttl_s=30.0, dead_letter_after=3)


@pytest.fixture(params=BACKENDS)
def urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(artifact database URL, dead-letter database URL) on the backend under test."""
    with database_url(request.param, tmp_path) as url:
        if request.param == "sqlite":
            yield url, f"sqlite:///{tmp_path}/dead-letters.sqlite3"
        else:
            yield url, url  # one schema of this test's own holds both tables


def dead_database(tmp_path: Path, url: str) -> Database:
    """A database that cannot be reached (connection refused / unopenable file)."""
    if url.startswith("sqlite"):
        blocker = tmp_path / "not-a-directory"
        blocker.write_text("")
        return Database(sa.create_engine(f"sqlite:///{blocker}/gone.db"), pool_size=1)
    return Database.open("postgresql://postgres@127.0.0.1:1/gone?connect_timeout=2", pool_size=1)


async def storage_on(url: str) -> ArtifactStorage:
    database = Database.open(url, pool_size=2)
    await database.run_sync(partial(upgrade, at_start=True))
    salt = await database.run_sync(kdf_salt)
    return ArtifactStorage(database, PayloadCodec(KeyRing.derive([SECRET], salt=salt)))


def cli_env(tmp_path: Path, url: str, letters_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "OPENROUTER_API_KEY")
        and not k.startswith("PIPE_SERVICE_")
    }
    env.update(
        PIPE_SERVICE_VAR_DIR=str(tmp_path / "var"),
        PIPE_SERVICE_DATABASE_URL=url,
        PIPE_SERVICE_DEAD_LETTERS__DATABASE_URL=letters_url,
        PIPE_SERVICE_PERSISTENCE__ENCRYPTION_KEY=SECRET,
        PIPE_SERVICE_LOG_FORMAT="json",
    )
    return env


async def dlq(env: dict[str, str], *args: str) -> tuple[int, Any, str]:
    """Run ``pipe-service dlq ARGS``; returns (exit code, parsed stdout or text, stderr)."""
    done = await trio.run_process(
        [sys.executable, "-m", "pipe_service", "dlq", *args],
        env=env,
        stdin=b"",
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    out = done.stdout.decode()
    try:
        parsed: Any = json.loads(out)
    except json.JSONDecodeError:
        parsed = out
    return done.returncode, parsed, done.stderr.decode()


async def run_until_dead_lettered(
    mock_clock: trio.testing.MockClock,
    nursery: trio.Nursery,
    behind: WriteBehind,
    storage: ArtifactStorage,
    letters: DeadLetters,
) -> FlusherStatistics:
    stats: FlusherStatistics = await nursery.start(
        partial(
            flusher.run,
            behind.nudges.receiver(),
            behind,
            storage,
            POLICY,
            FlusherStatistics(),
            dead_letters=letters,
        )
    )
    await until(lambda: stats.rounds == 1)  # failed at t=0, handed back; next at 10
    mock_clock.jump(10)
    await until(lambda: stats.rounds == 2)  # failed at t=10, handed back; next at 30
    assert stats.dead_lettered_entries == 0
    assert await behind.link.run_sync(lambda c: c.llen(behind.keys.pending)) == 2
    mock_clock.jump(20)
    await until(lambda: stats.rounds == 3)  # third failure: retries exhausted
    return stats


async def test_a_dead_database_during_flush_leaves_letters_and_dlq_retry_restores_the_rows(
    mock_clock: trio.testing.MockClock,
    nursery: trio.Nursery,
    link: RedisLink,
    urls: tuple[str, str],
    tmp_path: Path,
) -> None:
    url, letters_url = urls
    storage = await storage_on(url)
    live_database = storage.database
    letters_db = Database.open(letters_url, pool_size=1)
    letters = DeadLetters(letters_db)
    behind = make_behind(link)
    codec = storage.require_codec()
    first, second = [row(1), row(2)], [row(3, chat_id="c2")]
    await behind.enqueue(codec, first)
    await behind.enqueue(codec, second)
    storage.database = dead_database(tmp_path, url)
    try:
        stats = await run_until_dead_lettered(mock_clock, nursery, behind, storage, letters)
        assert stats.dead_lettered_entries == 2
        assert stats.failed_flushes == 3
        keys = behind.keys
        assert await behind.link.run_sync(lambda c: c.llen(keys.pending)) == 0
        assert await behind.link.run_sync(lambda c: c.llen(keys.processing(behind.flusher_id))) == 0
        listed = await letters.list_letters()
        assert [letter.kind for letter in listed] == [KIND_PENDING_ENTRY] * 2
        assert sorted(len(letter.item_ids) for letter in listed) == [1, 2]
        assert all(letter.encrypted and letter.attempts == 3 for letter in listed)
        assert all("database unreachable after 3 flush attempts" in x.reason for x in listed)

        # Still dead: a retry fails, counts an attempt and keeps the letter.
        outcome = await retry_letter(letters, storage.database, codec, listed[0].id)
        assert not outcome.ok
        assert outcome.error
        assert "OperationalError" in outcome.error
        again = await letters.summary(listed[0].id)
        assert again is not None
        assert again.attempts == 4
        assert again.last_error == outcome.error
    finally:
        storage.database.dispose()
        storage.database = live_database

    # The database is back; the flusher finds nothing left to do (Redis was emptied).
    mock_clock.jump(35)
    await until(lambda: stats.rounds == 4)
    await settle()
    assert await live_database.run_sync(count_artifacts) == 0

    env = cli_env(tmp_path, url, letters_url)
    code, shown, _ = await dlq(env, "list", "--json")
    assert code == 0
    assert len(shown) == 2
    assert {"id", "kind", "reason", "attempts", "item_ids", "first_failed_at"} <= set(shown[0])
    code, one, _ = await dlq(env, "show", listed[1].id, "--json")
    assert code == 0
    assert "payload" not in one
    assert one["id"] == listed[1].id
    code, one, _ = await dlq(env, "show", listed[1].id, "--json", "--payload")
    assert code == 0
    items = [r["item"] for r in one["payload"]["rows"]]
    assert items == [r.item for r in second] or items == [r.item for r in first]
    assert SECRET not in json.dumps(one)

    code, outcomes, stderr = await dlq(env, "retry", "--all", "--json")
    assert code == 0, stderr
    assert sorted(o["rows"] for o in outcomes) == [1, 2]
    assert all(o["ok"] for o in outcomes)
    assert await live_database.run_sync(count_artifacts) == 3
    restored = await live_database.run_sync(
        partial(read_artifact, codec=codec, artifact_id=second[0].id)
    )
    assert restored == second[0].item
    code, shown, _ = await dlq(env, "list", "--json")
    assert (code, shown) == (0, [])
    counts = await letters.counts()
    assert (counts.pending, counts.written, counts.retried, counts.retry_failed) == (0, 2, 2, 1)
    letters_db.dispose()
    live_database.dispose()


async def test_an_undecodable_entry_becomes_a_letter_with_its_reason_not_a_log_line(
    mock_clock: trio.testing.MockClock,
    nursery: trio.Nursery,
    behind: WriteBehind,
    storage: ArtifactStorage,
    tmp_path: Path,
) -> None:
    letters_db = Database.open(f"sqlite:///{tmp_path}/dead-letters.sqlite3", pool_size=1)
    letters = DeadLetters(letters_db)
    await behind.enqueue(storage.require_codec(), [row(1)])
    await behind.link.run_sync(lambda c: c.lpush(behind.keys.pending, b"{not json"))
    stats: FlusherStatistics = await nursery.start(
        partial(
            flusher.run,
            behind.nudges.receiver(),
            behind,
            storage,
            POLICY,
            FlusherStatistics(),
            dead_letters=letters,
        )
    )
    await until(lambda: stats.rounds == 1)
    assert stats.entries_flushed == 1
    assert stats.dead_lettered_entries == 1
    assert stats.dropped_entries == 0
    [letter] = await letters.list_letters()
    assert letter.kind == KIND_UNDECODABLE
    assert "cannot be decoded" in letter.reason
    outcome = await retry_letter(letters, storage.database, storage.require_codec(), letter.id)
    assert not outcome.ok
    assert outcome.error is not None
    assert "cannot be re-applied" in outcome.error
    assert await letters.payload(storage.require_codec(), letter.id) == {
        "raw_base64": "e25vdCBqc29u"
    }
    letters_db.dispose()


async def test_a_dead_letter_store_that_fails_too_keeps_the_batch_in_redis(
    mock_clock: trio.testing.MockClock,
    nursery: trio.Nursery,
    behind: WriteBehind,
    storage: ArtifactStorage,
    tmp_path: Path,
) -> None:
    letters = DeadLetters(dead_database(tmp_path, "sqlite://"))
    live = storage.database
    await behind.enqueue(storage.require_codec(), [row(1)])
    await behind.enqueue(storage.require_codec(), [row(2)])
    storage.database = dead_database(tmp_path, "sqlite://")
    try:
        stats = await run_until_dead_lettered(mock_clock, nursery, behind, storage, letters)
        assert stats.dead_lettered_entries == 0
        assert stats.failed_flushes == 3
        assert await behind.link.run_sync(lambda c: c.llen(behind.keys.pending)) == 2
    finally:
        storage.database.dispose()
        storage.database = live


async def test_an_entry_the_database_refuses_becomes_a_letter_and_the_rest_land(
    behind: WriteBehind, storage: ArtifactStorage, tmp_path: Path
) -> None:
    letters_db = Database.open(f"sqlite:///{tmp_path}/dead-letters.sqlite3", pool_size=1)
    letters = DeadLetters(letters_db)
    codec = storage.require_codec()
    await behind.enqueue(codec, [row(1)])
    [good] = await behind.link.run_sync(lambda c: c.lrange(behind.keys.pending, 0, -1))
    refused = json.loads(good)
    refused["rows"][0]["id"] = "01JDX0Q9J8Z5M8K3V3S9E8Y7QZ"
    refused["rows"][0]["item_type"] = None  # NOT NULL: the database refuses it as data
    await behind.link.run_sync(lambda c: c.lpush(behind.keys.pending, json.dumps(refused)))
    await behind.enqueue(codec, [row(2)])
    stats = FlusherStatistics()
    assert await flusher.flush_round(behind, storage, POLICY, stats, letters)
    assert (stats.dropped_entries, stats.dead_lettered_entries) == (0, 1)
    assert await storage.database.run_sync(count_artifacts) == 2
    [letter] = await letters.list_letters()
    assert letter.kind == KIND_PENDING_ENTRY
    assert letter.item_ids == ("01JDX0Q9J8Z5M8K3V3S9E8Y7QZ",)
    assert letter.reason.startswith("the database refuses it: IntegrityError")
    # Still refused on retry: an attempt is counted, the letter stays for purge.
    outcome = await retry_letter(letters, storage.database, codec, letter.id)
    assert not outcome.ok
    assert outcome.error is not None
    assert outcome.error.startswith("IntegrityError")
    summary = await letters.summary(letter.id)
    assert summary is not None
    assert summary.attempts == 2
    letters_db.dispose()
