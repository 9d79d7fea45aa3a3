"""The dead-letter table on a real SQLite file and a real PostgreSQL schema of the test's own:
write and list (filters), purge, the bounds the cleanup keeps, the counters behind the
metrics (parsed with the Prometheus parser), and ``pipe-service dlq`` refusing bad input.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import trio
import trio.testing
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pipe_service.cli import main
from pipe_service.console.dlq import duration_s
from pipe_service.storage import dead_letters as dead_letters_module
from pipe_service.storage.codec import PayloadCodec
from pipe_service.storage.dead_letter_actors import (
    DeadLetterBounds,
    DeadLetterCleanupStatistics,
)
from pipe_service.storage.dead_letter_actors import run as cleanup
from pipe_service.storage.dead_letter_metrics import (
    DeadLetterCollector,
    DeadLetterHealth,
    probe_dead_letters,
)
from pipe_service.storage.dead_letters import DeadLetters, NewLetter
from pipe_service.storage.engine import Database
from pipe_service.storage.keys import KeyRing
from tests.persistence.databases import BACKENDS, database_url
from tests.writebehind.test_flusher_actor import until

DAY = 86400.0
CODEC = PayloadCodec(KeyRing.derive(["letters key"], salt=b"0123456789abcdef"))


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_url(request.param, tmp_path) as opened:
        yield opened


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def letters(url: str, clock: Clock) -> AsyncIterator[DeadLetters]:
    database = Database.open(url, pool_size=1)
    try:
        yield DeadLetters(database, wall_clock=clock)
    finally:
        database.dispose()


def letter(kind: str = "pending_entry", **extra: object) -> NewLetter:
    return NewLetter(
        kind=kind,
        reason="database unreachable after 3 flush attempts",
        value={"rows": [], "secret-looking": "payload body"},
        owner="user:u",
        chat_id="c",
        item_ids=("01A", "01B"),
        **extra,  # type: ignore[arg-type]
    )


async def test_letters_are_encrypted_listed_oldest_first_and_filtered(
    letters: DeadLetters, clock: Clock
) -> None:
    [old] = await letters.add(CODEC, [letter()])
    clock.now += 2 * DAY
    [new] = await letters.add(CODEC, [letter(kind="undecodable_entry")])
    listed = await letters.list_letters()
    assert [x.id for x in listed] == [old, new]
    assert listed[0].encrypted
    assert listed[0].item_ids == ("01A", "01B")
    assert [x.id for x in await letters.list_letters(kind="undecodable_entry")] == [new]
    assert [x.id for x in await letters.list_letters(older_than_s=DAY)] == [old]
    stored = await letters.database.run_sync(
        lambda conn: conn.exec_driver_sql("SELECT payload FROM pipe_dead_letters").all()
    )
    assert all(b"payload body" not in bytes(row[0]) for row in stored)
    assert await letters.payload(CODEC, old) == {"rows": [], "secret-looking": "payload body"}
    with pytest.raises(KeyError):
        await letters.payload(CODEC, "no-such-letter")


async def test_purge_by_id_by_age_and_all_counts_what_went(
    letters: DeadLetters, clock: Clock
) -> None:
    ids = await letters.add(CODEC, [letter(), letter()])
    clock.now += 3 * DAY
    later = await letters.add(CODEC, [letter(), letter()])
    assert await letters.purge() == 0  # nothing named: nothing deleted
    assert await letters.purge(ids=[ids[0]]) == 1
    assert await letters.purge(older_than_s=DAY) == 1
    assert {x.id for x in await letters.list_letters()} == set(later)
    assert await letters.purge(everything=True) == 2
    counts = await letters.counts()
    assert (counts.pending, counts.written, counts.purged) == (0, 4, 4)


async def test_bounds_drop_expired_then_the_oldest_beyond_the_cap(
    letters: DeadLetters, clock: Clock
) -> None:
    await letters.add(CODEC, [letter()])
    clock.now += 10 * DAY
    kept = []
    for _ in range(4):
        clock.now += 1
        kept += await letters.add(CODEC, [letter()])
    assert await letters.enforce_bounds(retention_days=5, max_letters=3) == 2
    assert [x.id for x in await letters.list_letters()] == kept[1:]
    assert await letters.enforce_bounds(retention_days=0, max_letters=3) == 0


async def test_the_cleanup_actor_runs_at_start_and_on_its_interval(
    mock_clock: trio.testing.MockClock, letters: DeadLetters, clock: Clock
) -> None:
    # A hand-jumped clock: the deletes run in worker threads, which autojump does not wait for.
    await letters.add(CODEC, [letter(), letter()])
    stats = DeadLetterCleanupStatistics()
    bounds = DeadLetterBounds(retention_days=0, max_letters=1, interval_s=3600)
    async with trio.open_nursery() as nursery:
        await nursery.start(cleanup, letters, bounds, stats)
        await until(lambda: stats.deleted == 1)
        await letters.add(CODEC, [letter()])
        mock_clock.jump(3599)
        await trio.to_thread.run_sync(time.sleep, 0.2)
        assert stats.runs == 1
        mock_clock.jump(1)
        await until(lambda: stats.deleted == 2)
        assert stats.runs == 2
        nursery.cancel_scope.cancel()
    assert trio.current_time() == 3600


async def test_metrics_move_with_written_retried_and_pending(
    letters: DeadLetters, clock: Clock
) -> None:
    health = DeadLetterHealth()
    registry = CollectorRegistry()
    registry.register(DeadLetterCollector(health))

    async def scrape() -> dict[str, float]:
        await probe_dead_letters(letters, health)
        text = generate_latest(registry).decode()
        return {
            sample.name: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    before = await scrape()
    assert before["pipe_service_dead_letters_pending"] == 0
    assert before["pipe_service_dead_letters_store_up"] == 1
    ids = await letters.add(CODEC, [letter(), letter()])
    clock.now += 60
    during = await scrape()
    assert during["pipe_service_dead_letters_written_total"] == 2
    assert during["pipe_service_dead_letters_pending"] == 2
    assert during["pipe_service_dead_letters_oldest_age_seconds"] > 0
    await letters.retry_failed(ids[0], "OperationalError: still down")
    assert await letters.resolved(ids[0])
    assert not await letters.resolved(ids[0])  # already gone: counted once
    after = await scrape()
    assert after["pipe_service_dead_letters_retried_total"] == 1
    assert after["pipe_service_dead_letters_retry_failures_total"] == 1
    assert after["pipe_service_dead_letters_pending"] == 1


async def test_a_dead_store_is_a_metric_value_not_a_failed_scrape(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    dead = DeadLetters(Database(sa.create_engine(f"sqlite:///{blocker}/x.db"), pool_size=1))
    health = DeadLetterHealth()
    await probe_dead_letters(dead, health)
    assert health.up is False
    registry = CollectorRegistry()
    registry.register(DeadLetterCollector(health))
    assert "pipe_service_dead_letters_store_up 0.0" in generate_latest(registry).decode()


def test_durations_parse_and_refuse_garbage() -> None:
    assert [duration_s(x) for x in ("90", "90s", "30m", "12h", "7d", "1.5h")] == [
        90,
        90,
        1800,
        43200,
        604800,
        5400,
    ]
    with pytest.raises(argparse.ArgumentTypeError, match="not a duration"):
        duration_s("yesterday")


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("DATABASE_URL", "REDIS_URL", "OPENROUTER_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIPE_SERVICE_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("PIPE_SERVICE_LOG_FORMAT", "json")
    return tmp_path


def test_dlq_refuses_bad_input_with_a_clear_message(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dlq", "list", "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"
    assert main(["dlq", "show", "01NOSUCHLETTER"]) == 1
    assert "no dead letter '01NOSUCHLETTER'" in capsys.readouterr().err
    assert main(["dlq", "retry"]) == 2
    assert "or pass --all" in capsys.readouterr().err
    assert main(["dlq", "purge", "--all", "x"]) == 2
    assert "exactly one of" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["dlq", "purge", "--older-than", "soon"])
    assert "not a duration" in capsys.readouterr().err
    assert (cli_env / "dead-letters.sqlite3").exists()  # the default store, in the var dir


async def _seed(path: Path) -> list[str]:
    database = Database.open(f"sqlite:///{path}", pool_size=1)
    try:
        return await DeadLetters(database).add(CODEC, [letter(), letter()])
    finally:
        database.dispose()


def test_dlq_purge_asks_first_and_needs_yes_without_a_terminal(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = trio.run(_seed, cli_env / "dead-letters.sqlite3")
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["dlq", "purge", "--all"]) == 2
    assert "pass --yes" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert main(["dlq", "purge", ids[0]]) == 1
    assert "nothing purged" in capsys.readouterr().out
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert main(["dlq", "purge", ids[0]]) == 0
    assert "purged 1 dead letter(s)" in capsys.readouterr().out
    assert main(["dlq", "purge", "--all", "--yes", "--json"]) == 0
    assert capsys.readouterr().out.strip() == '{"purged": 1}'


def test_config_output_hides_the_dead_letter_database_password(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "PIPE_SERVICE_DEAD_LETTERS__DATABASE_URL", "postgresql://ops:hunter2-canary@db/letters"
    )
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "hunter2-canary" not in out
    assert "postgresql://ops:***@db/letters" in out


def test_dlq_show_prints_metadata_only_unless_asked(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = trio.run(_seed, cli_env / "dead-letters.sqlite3")
    assert main(["dlq", "show", ids[0]]) == 0
    out = capsys.readouterr().out
    assert ids[0] in out
    assert "database unreachable after 3 flush attempts" in out
    assert "payload body" not in out
    assert main(["dlq", "list"]) == 0
    listing = capsys.readouterr().out
    assert "dead letters (2)" in listing
    assert "payload body" not in listing


async def test_a_store_whose_create_loses_the_race_to_another_worker_still_prepares(
    url: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers started together each create the tables on first use; the one whose CREATE
    comes second (after its own existence check) gets "already exists" and must carry on."""
    real_create = dead_letters_module._create_tables
    calls: list[int] = []

    def create_after_another_worker(connection: sa.Connection) -> None:
        calls.append(1)
        if len(calls) == 1:
            real_create(connection)  # the other worker's CREATE lands first...
            raise sa.exc.OperationalError(
                "CREATE TABLE pipe_dead_letters", {}, Exception("table already exists")
            )
        real_create(connection)

    monkeypatch.setattr(dead_letters_module, "_create_tables", create_after_another_worker)
    database = Database.open(url, pool_size=1)
    try:
        store = DeadLetters(database, wall_clock=clock)
        with trio.fail_after(10):
            assert (await store.counts()).pending == 0
        assert len(calls) == 2
    finally:
        database.dispose()
