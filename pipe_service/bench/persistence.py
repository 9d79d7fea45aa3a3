"""``pipe-service bench --persistence``: artifacts persisted per second, and the time
persistence adds at the end of a stream, on SQLite and (with ``--database-url``) PostgreSQL.

It runs the real parts in one process: the db_writer actor, the codec (JSON → LZ4 → Fernet,
``encrypt=all``) and the database, and measures :meth:`ArtifactPersistence.record_turn` — the
only persistence work on a stream's path (submit the turn's artifacts, wait for the commit's
ack, then the markers may go out). A turn stores what a reasoning tool turn produces: two
encrypted reasoning items, a call and its result (four artifacts, ~4 KiB of JSON).

The end-of-stream time is measured the way a turn runs: the first reasoning item is handed
to the writer when it arrives (for a tool turn the round follows when the tool ran), the answer
streams for ``STREAM_S``, then ``finish()``.

Synopsis::

    pipe-service bench --persistence --database-url postgresql://postgres@127.0.0.1/test
    pipe-service bench --persistence --redis-url redis://127.0.0.1:6379/0   # + write-behind

With ``--redis-url`` every backend is measured a second time through the Redis write-behind
(acks after Redis, the redis_flusher drains to the database): artifacts/s then counts what
Redis acknowledged, and two more numbers say how far the database lags: the largest flush lag
(enqueue → committed, per flushed batch) and the drain time (last ack → pending list empty).
"""

from __future__ import annotations

import base64
import math
import os
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis
import sqlalchemy as sa
import trio

from pipe_service.config.persistence import PersistenceSettings
from pipe_service.config.redis import RedisSettings
from pipe_service.persistence import db_writer
from pipe_service.persistence.db_writer import ArtifactWriter, WriterPolicy, open_writer_inbox
from pipe_service.persistence.recorder import ArtifactPersistence, ArtifactScope
from pipe_service.persistence.retention import storage_policy
from pipe_service.redis_link import RedisLink
from pipe_service.storage.bootstrap import ArtifactStorage, prepare_artifact_storage
from pipe_service.storage.engine import Database, normalize_database_url
from pipe_service.writebehind import flusher as redis_flusher
from pipe_service.writebehind.flusher import FlusherStatistics, FlushPolicy
from pipe_service.writebehind.queue import (
    FlushNudge,
    WriteBehind,
    new_flusher_id,
    open_nudge_inbox,
)

ARTIFACTS_PER_TURN = 4


STREAM_S = 0.02  # a short answer streaming between the reasoning and the end of the stream


@dataclass(frozen=True)
class PersistenceResult:
    """Throughput of back-to-back turns, and what ``finish()`` adds at the end of a stream:
    for a plain answer (its reasoning was written while the text streamed) and for a tool turn
    (calls and results are only known at the end, so one commit is waited for)."""

    backend: str
    concurrency: int
    turns: int
    artifacts_per_s: float
    answer_end: tuple[float, float, float]
    tool_turn_end: tuple[float, float, float]
    max_flush_lag_s: float | None = None
    drain_s: float | None = None


def _percentiles_ms(samples: list[float]) -> tuple[float, float, float]:
    """p50, p95, p99 by nearest rank (ordered even for a handful of samples)."""
    samples = sorted(samples)

    def rank(q: float) -> float:
        return 1000 * samples[max(0, math.ceil(q * len(samples)) - 1)]

    return rank(0.50), rank(0.95), rank(0.99)


def sample_turn(n: int) -> list[dict[str, Any]]:
    encrypted = base64.urlsafe_b64encode(os.urandom(1200)).decode()
    return [
        {"type": "reasoning", "id": f"rs_{n}a", "summary": [], "encrypted_content": encrypted},
        {
            "type": "function_call",
            "id": f"fc_{n}",
            "call_id": f"call_{n}",
            "name": "search",
            "arguments": '{"query": "weather in Paris tomorrow"}',
        },
        {
            "type": "function_call_output",
            "call_id": f"call_{n}",
            "output": "Sunny, 18 °C, light wind from the west. " * 20,
        },
        {"type": "reasoning", "id": f"rs_{n}b", "summary": [], "encrypted_content": encrypted},
    ]


async def measure(
    url: str,
    var_dir: Path,
    *,
    concurrency: int,
    turns: int,
    pool_size: int = 5,
    redis_url: str | None = None,
) -> PersistenceResult:
    """Run ``turns`` turns spread over ``concurrency`` producers against ``url`` (through the
    Redis write-behind when ``redis_url`` is given)."""
    database = Database.open(url, pool_size=pool_size)
    settings = PersistenceSettings()
    link = (
        RedisLink.open(
            redis_url,
            key_prefix=f"pipe-bench-{secrets.token_hex(6)}",
            pool_size=8,
            op_timeout_s=5,
        )
        if redis_url
        else None
    )
    try:
        codec = await prepare_artifact_storage(database, settings, var_dir)
        storage = ArtifactStorage(database, codec)
        inbox = open_writer_inbox(settings.writer_inbox)
        writer = ArtifactWriter(inbox)
        nudges = open_nudge_inbox()
        behind = (
            WriteBehind(link, RedisSettings(), flusher_id=new_flusher_id(), nudges=nudges)
            if link is not None
            else None
        )
        flushed = FlusherStatistics()
        persistence = ArtifactPersistence(
            writer=writer, storage=storage, settings=settings, write_behind=behind
        )
        policy = storage_policy(settings)
        samples = [sample_turn(n) for n in range(16)]
        per_worker = max(1, turns // concurrency)
        answer_ends: list[float] = []
        tool_ends: list[float] = []

        def scope(worker: int) -> ArtifactScope:
            return ArtifactScope(f"user:bench{worker}", f"chat{worker}", "m", "openai/gpt-bench")

        async def back_to_back(worker: int) -> None:
            for n in range(per_worker):
                saved = await persistence.record_turn(
                    samples[n % 16], scope=scope(worker), policy=policy
                )
                if len(saved.ids) != ARTIFACTS_PER_TURN:
                    raise RuntimeError(f"a bench turn was not saved: {saved.status}")

        async def streamed(worker: int, ends: list[float], *, tool_turn: bool) -> None:
            for n in range(max(1, per_worker // 4)):
                items = samples[n % 16]
                turn = persistence.begin_turn(scope(worker), policy)
                await turn.add_early(items[0])
                if tool_turn:  # the tool ran, the loop hands the round over, the next run reasons
                    await turn.add_round(items[:3])
                    await turn.add_early(items[3])
                await trio.sleep(STREAM_S)  # the answer's text streams
                final = items if tool_turn else [items[0], {"type": "message", "id": "msg"}]
                began = trio.current_time()
                saved = await turn.finish(final)
                ends.append(trio.current_time() - began)
                if not saved.ids:
                    raise RuntimeError(f"a bench turn was not saved: {saved.status}")

        async def level(worker_fn: Callable[[int], Awaitable[None]]) -> float:
            began = trio.current_time()
            async with trio.open_nursery() as producers:
                for worker in range(concurrency):
                    producers.start_soon(worker_fn, worker)
            return trio.current_time() - began

        drain_s: float | None = None
        async with trio.open_nursery() as nursery:
            await nursery.start(
                partial(db_writer.run, write_behind=behind),
                inbox.receiver(),
                writer,
                storage,
                WriterPolicy(),
            )
            if behind is not None:
                flush_policy = FlushPolicy(interval_s=RedisSettings().flush_interval_s)
                await nursery.start(
                    redis_flusher.run, nudges.receiver(), behind, storage, flush_policy, flushed
                )
            await persistence.record_turn(samples[0], scope=scope(-1), policy=policy)  # warm-up
            elapsed = await level(back_to_back)
            await level(partial(streamed, ends=answer_ends, tool_turn=False))
            await level(partial(streamed, ends=tool_ends, tool_turn=True))
            if behind is not None:
                drain_s = await _drain_time(behind)
            inbox.close_senders()
            nudges.close_senders()
        total = per_worker * concurrency
        return PersistenceResult(
            max_flush_lag_s=flushed.max_lag_s if behind is not None else None,
            drain_s=drain_s,
            backend=database.backend + ("+redis" if behind is not None else ""),
            concurrency=concurrency,
            turns=total,
            artifacts_per_s=total * ARTIFACTS_PER_TURN / elapsed,
            answer_end=_percentiles_ms(answer_ends),
            tool_turn_end=_percentiles_ms(tool_ends),
        )
    finally:
        database.dispose()
        if link is not None:
            await trio.to_thread.run_sync(_delete_prefix, link)
            link.close()


async def _drain_time(behind: WriteBehind) -> float:
    """Seconds from now (the last ack) until the flushers emptied the pending list; a nudge
    starts the flush at once, as a growing list would."""
    began = trio.current_time()
    behind.nudges.send_nowait(FlushNudge(0))
    await behind.link.run_sync(partial(_wait_empty, key=behind.keys.pending))
    return trio.current_time() - began


def _wait_empty(client: redis.Redis, *, key: str) -> None:
    while client.llen(key):
        time.sleep(0.005)


def _delete_prefix(link: RedisLink) -> None:
    keys = list(link.client.scan_iter(match=f"{link.keys.prefix}:*", count=1000))
    for start in range(0, len(keys), 1000):
        link.client.delete(*keys[start : start + 1000])


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A throw-away schema on ``url`` (dropped afterwards), as a URL using it."""
    schema = f"pipe_bench_{secrets.token_hex(6)}"
    admin = sa.create_engine(normalize_database_url(url))
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


async def run_persistence_bench(
    *,
    database_url: str | None,
    turns: int,
    concurrency: tuple[int, ...],
    progress: Callable[[str], None],
    redis_url: str | None = None,
) -> list[PersistenceResult]:
    results = []
    through = [None, redis_url] if redis_url else [None]
    with tempfile.TemporaryDirectory(prefix="pipe-bench-") as work:
        for via in through:
            suffix = " through Redis" if via else ""
            for level in concurrency:
                sqlite_dir = Path(work) / f"sqlite-{level}{'-redis' if via else ''}"
                progress(f"persistence: SQLite{suffix}, {level} producer(s)")
                results.append(
                    await measure(
                        f"sqlite:///{sqlite_dir}/bench.db",
                        sqlite_dir,
                        concurrency=level,
                        turns=turns,
                        redis_url=via,
                    )
                )
            if database_url:
                for level in concurrency:
                    progress(f"persistence: PostgreSQL{suffix}, {level} producer(s)")
                    with postgres_schema(database_url) as url:
                        results.append(
                            await measure(
                                url,
                                Path(work) / f"pg-{level}{'-redis' if via else ''}",
                                concurrency=level,
                                turns=turns,
                                redis_url=via,
                            )
                        )
    return results


def render_persistence_markdown(results: list[PersistenceResult]) -> str:
    lines = [
        "| backend | producers | turns | artifacts/s | answer end p50 / p95 / p99 (ms) "
        "| tool turn end p50 / p95 / p99 (ms) | max flush lag (s) | drain (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        answer = " / ".join(f"{v:.2f}" for v in r.answer_end)
        tool = " / ".join(f"{v:.2f}" for v in r.tool_turn_end)
        lag = "-" if r.max_flush_lag_s is None else f"{r.max_flush_lag_s:.2f}"
        drain = "-" if r.drain_s is None else f"{r.drain_s:.2f}"
        lines.append(
            f"| {r.backend} | {r.concurrency} | {r.turns} | {r.artifacts_per_s:,.0f} "
            f"| {answer} | {tool} | {lag} | {drain} |"
        )
    return "\n".join(lines)


__all__ = [
    "PersistenceResult",
    "measure",
    "render_persistence_markdown",
    "run_persistence_bench",
]
