"""The redis_flusher actor: drain the Redis pending list into the database in batches, under a
fleet-wide lock, without losing an entry when any process dies.

Reliable-queue shape: the lock holder moves entries one by one from ``pending`` to its own
``processing:<flusher>`` list (``LMOVE``), commits them in one transaction, then deletes that
list. A flusher killed between the move and the delete leaves its entries in its processing
list; once its liveness key expires (``lock_ttl_s``), the next lock holder moves them back to
``pending``. An entry may so be applied twice; that stores the same thing (upserts by ULID).

Synopsis::

    nudges = open_nudge_inbox()
    behind = WriteBehind(link, settings.redis, flusher_id=new_flusher_id(), nudges=nudges)
    stats = await supervisor.start(ActorSpec("redis_flusher", partial(run, behind=behind, ...),
                                             inbox=nudges, layer="sink"))
"""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
import time
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import redis
import sqlalchemy as sa
import trio

from actors import InboxReceiver
from pipe_service.redis_link import RedisKeys, RedisLink
from pipe_service.storage.artifact_store import Placement, apply_writes
from pipe_service.storage.bootstrap import ArtifactStorage
from pipe_service.storage.dead_letters import DeadLetters
from pipe_service.writebehind.dead_letter_retry import letter_for_entry
from pipe_service.writebehind.queue import FlushNudge, WriteBehind, decode_entry

logger = logging.getLogger("pipe_service.writebehind.flusher")


@dataclass(frozen=True)
class FlushPolicy:
    interval_s: float = 2.0
    batch: int = 200
    failure_limit: int = 5
    backoff_max_s: float = 60.0
    lock_ttl_s: float = 15.0
    # Batches one lock holding drains at most, so a flood never starves the schedule.
    max_batches_per_round: int = 50
    # Failed rounds in a row (database unreachable) after which the batch held goes to the
    # dead letters instead of back to Redis; 0 = never (needs a dead-letter store).
    dead_letter_after: int = 0

    @property
    def lock_ttl_ms(self) -> int:
        return max(1, int(self.lock_ttl_s * 1000))


def backoff_delay(policy: FlushPolicy, consecutive_failures: int) -> float:
    """``interval · 2^(n-1)`` after the n-th consecutive failure, capped by ``backoff_max_s``."""
    exponent = max(consecutive_failures - 1, 0)
    return float(min(policy.interval_s * math.pow(2, exponent), policy.backoff_max_s))


@dataclass
class FlusherStatistics:
    rounds: int = 0  # completed
    commits: int = 0
    entries_flushed: int = 0
    rows_flushed: int = 0
    rows_new: int = 0
    failed_flushes: int = 0
    consecutive_failures: int = 0
    lock_busy: int = 0
    recovered_entries: int = 0
    dropped_entries: int = 0
    dead_lettered_entries: int = 0
    nudges: int = 0
    last_lag_s: float | None = None
    max_lag_s: float = 0.0
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def run(
    inbox: InboxReceiver[FlushNudge],
    behind: WriteBehind,
    storage: ArtifactStorage,
    policy: FlushPolicy,
    stats: FlusherStatistics,
    *,
    dead_letters: DeadLetters | None = None,
    task_status: trio.TaskStatus[FlusherStatistics] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Flush the pending list every ``interval_s`` (fixed schedule), and at once on a nudge.

    Consumes :class:`FlushNudge` values (sent by the write path when the pending list grows
    past ``flush_nudge_entries``); produces database rows. ``started()`` returns ``stats`` at
    once: a Redis or database that is down at start only delays the first flush.

    **Resource handling:** uses the service's Redis link and database; owns its processing
    list and liveness key, and on a clean stop (inbox closed) runs one last flush, hands back
    anything it still holds and deregisters.

    **Error handling:** a database failure moves the batch back to ``pending`` (nothing is
    lost, order is kept) and the next round waits ``interval · 2^(n-1)`` up to
    ``backoff_max_s``; ``failure_limit`` failures in a row log CRITICAL once. With
    ``dead_letters`` and ``policy.dead_letter_after`` > 0, once that many rounds in a row
    failed, the batch held is written to the dead letters (``pipe-service dlq retry`` applies
    it later) instead of being handed back; if the dead-letter store fails too, it is handed
    back. A Redis error counts against the write path's Redis breaker and is retried the same
    way. An entry that cannot be decoded, or that the database refuses as data (a constraint,
    a value too long: found by applying the batch's entries one by one), could never be
    applied and would hold every later entry back: it becomes a dead letter with its reason
    (without a store it is dropped with an error log). Anything else escapes to the
    supervisor; claimed entries are then recovered like a dead flusher's.
    """
    task_status.started(stats)
    async with inbox:
        scheduled = trio.current_time()  # first round at once: recover what a predecessor left
        next_at = scheduled
        while True:
            with trio.move_on_at(next_at):
                try:
                    await inbox.receive()
                    stats.nudges += 1
                except trio.EndOfChannel:
                    await _last_round(behind, storage, policy, stats, dead_letters)
                    return
            ok = await flush_round(behind, storage, policy, stats, dead_letters)
            stats.rounds += 1
            now = trio.current_time()
            while scheduled <= now:
                scheduled += policy.interval_s
            next_at = scheduled if ok else now + backoff_delay(policy, stats.consecutive_failures)


async def flush_round(
    behind: WriteBehind,
    storage: ArtifactStorage,
    policy: FlushPolicy,
    stats: FlusherStatistics,
    dead_letters: DeadLetters | None = None,
) -> bool:
    """One round: heartbeat, take the lock if free, drain; False when it failed (back off)."""
    if not storage.ready:
        return True  # the schema is not there yet; the bootstrap actor is on it
    link = behind.link
    token = secrets.token_hex(16)
    try:
        acquired, depth = await link.run_sync(
            partial(
                _heartbeat_and_lock,
                keys=link.keys,
                flusher=behind.flusher_id,
                token=token,
                ttl_ms=policy.lock_ttl_ms,
            )
        )
    except redis.RedisError as exc:
        _failed(stats, policy, exc, "Redis")
        behind.record_redis_error(exc)
        return False
    behind.note_pending(depth)
    if not acquired:
        stats.lock_busy += 1
        return True
    try:
        return await _drain(behind, storage, policy, stats, token, dead_letters)
    finally:
        with trio.move_on_after(policy.lock_ttl_s, shield=True):
            # On a Redis error the lock expires on its own after lock_ttl_s.
            with contextlib.suppress(redis.RedisError):
                await link.run_script(link.release_if_owner, keys=[link.keys.lock], args=[token])


async def _drain(
    behind: WriteBehind,
    storage: ArtifactStorage,
    policy: FlushPolicy,
    stats: FlusherStatistics,
    token: str,
    dead_letters: DeadLetters | None,
) -> bool:
    link = behind.link
    mine = link.keys.processing(behind.flusher_id)
    try:
        recovered = await link.run_sync(partial(_recover, link=link, flusher=behind.flusher_id))
    except redis.RedisError as exc:
        _failed(stats, policy, exc, "Redis")
        behind.record_redis_error(exc)
        return False
    if recovered:
        stats.recovered_entries += recovered
        logger.warning(
            "re-queued entries a stopped flusher had claimed", extra={"entries": recovered}
        )
    for _ in range(policy.max_batches_per_round):
        try:
            raws, depth = await link.run_sync(
                partial(_take, keys=link.keys, processing=mine, count=policy.batch)
            )
        except redis.RedisError as exc:
            _failed(stats, policy, exc, "Redis")
            behind.record_redis_error(exc)
            return False
        behind.note_pending(depth)
        if not raws:
            return _succeeded(stats)
        try:
            applied = await storage.database.run_sync(partial(_apply_entries, raws=raws))
        except Exception as exc:
            if _is_outage(exc):
                _failed(stats, policy, exc, "database")
                if _retries_exhausted(stats, policy, dead_letters):
                    reason = (
                        f"database unreachable after {stats.consecutive_failures} flush "
                        f"attempts: {stats.last_error}"
                    )
                    refused = tuple((raw, reason) for raw in raws)
                    await _park(behind, storage, stats, dead_letters, refused, mine)
                    return False
                await _hand_back(link, mine)
                return False
            # The database answered but refused the data: find the entries it refuses, so
            # one bad entry cannot hold every later one back forever.
            one_by_one = await _apply_separately(storage, raws)
            if one_by_one is None:  # the database went away meanwhile
                _failed(stats, policy, exc, "database")
                await _hand_back(link, mine)
                return False
            applied = one_by_one
        if applied.refused and dead_letters is not None:
            if not await _to_dead_letters(storage, stats, dead_letters, applied.refused):
                await _hand_back(link, mine)  # committed rows are re-applied harmlessly
                return False
        elif applied.refused:
            for _, reason in applied.refused:
                logger.error("dropping a pending entry", extra={"error": reason})
            stats.dropped_entries += len(applied.refused)
        try:
            await link.run_sync(lambda client: client.delete(mine))
        except redis.RedisError as exc:
            # Committed but still claimed: re-applied later, which stores the same rows.
            behind.record_redis_error(exc)
            return False
        _count(stats, applied)
        try:
            still_ours = await link.run_script(
                link.extend_if_owner, keys=[link.keys.lock], args=[token, policy.lock_ttl_ms]
            )
        except redis.RedisError as exc:
            behind.record_redis_error(exc)
            return False
        if not still_ours:
            break  # the lock expired under a slow commit; the new holder carries on
    return _succeeded(stats)


def _retries_exhausted(
    stats: FlusherStatistics, policy: FlushPolicy, dead_letters: DeadLetters | None
) -> bool:
    return (
        dead_letters is not None
        and policy.dead_letter_after > 0
        and stats.consecutive_failures >= policy.dead_letter_after
    )


async def _park(
    behind: WriteBehind,
    storage: ArtifactStorage,
    stats: FlusherStatistics,
    dead_letters: DeadLetters | None,
    refused: tuple[tuple[bytes, str], ...],
    processing: str,
) -> None:
    """Move the claimed batch to the dead letters and release it from Redis; hand it back
    when the dead-letter store fails too (nothing is lost either way)."""
    link = behind.link
    if dead_letters is None or not await _to_dead_letters(storage, stats, dead_letters, refused):
        await _hand_back(link, processing)
        return
    try:
        await link.run_sync(lambda client: client.delete(processing))
    except redis.RedisError as exc:
        # Still claimed: applied later as well as kept as a letter; a retry of the letter
        # then stores the same rows (upserts by ULID).
        behind.record_redis_error(exc)


async def _to_dead_letters(
    storage: ArtifactStorage,
    stats: FlusherStatistics,
    dead_letters: DeadLetters,
    refused: tuple[tuple[bytes, str], ...],
) -> bool:
    letters = [
        letter_for_entry(raw, reason, attempts=max(1, stats.consecutive_failures))
        for raw, reason in refused
    ]
    try:
        await dead_letters.add(storage.require_codec(), letters)
    except Exception as exc:
        logger.error(
            "could not write dead letters; the entries stay in Redis",
            extra={"entries": len(letters), "error": _first_line(exc)},
        )
        return False
    stats.dead_lettered_entries += len(letters)
    logger.error(
        "moved pending entries to the dead letters (pipe-service dlq list)",
        extra={"entries": len(letters), "error": refused[0][1][:200]},
    )
    return True


def _first_line(exc: BaseException) -> str:
    # Only the first line: SQLAlchemy appends the statement's parameters (payloads) below it.
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}"


async def _hand_back(link: RedisLink, processing: str) -> None:
    # On a Redis error it stays in our processing list: the next round re-queues it.
    with contextlib.suppress(redis.RedisError):
        await link.run_script(link.requeue_all, keys=[processing, link.keys.pending], args=[])


async def _last_round(
    behind: WriteBehind,
    storage: ArtifactStorage,
    policy: FlushPolicy,
    stats: FlusherStatistics,
    dead_letters: DeadLetters | None,
) -> None:
    """On a clean stop: flush once, give back anything claimed, deregister."""
    await flush_round(behind, storage, policy, stats, dead_letters)
    link = behind.link
    # On a Redis error another flusher recovers our claims once our liveness key expires.
    with contextlib.suppress(redis.RedisError):
        await link.run_sync(partial(_deregister, link=link, flusher=behind.flusher_id))


def _is_outage(exc: BaseException) -> bool:
    """A database that cannot be reached (retry later), as opposed to one refusing data."""
    return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.TimeoutError)


async def _apply_separately(storage: ArtifactStorage, raws: list[bytes]) -> _Applied | None:
    """Apply each entry in its own transaction, setting aside (as ``refused``, with the
    reason) those the database refuses; None when the database became unreachable (hand
    everything back: what committed is re-applied harmlessly)."""
    total = _Applied(entries=0, rows=0, rows_new=0, refused=(), oldest_enqueued_at=None)
    for raw in raws:
        try:
            one = await storage.database.run_sync(partial(_apply_entries, raws=[raw]))
        except Exception as exc:
            if _is_outage(exc):
                return None
            reason = (
                f"the database refuses it: {type(exc).__name__}: "
                + ((str(exc).splitlines() or [""])[0][:200])
            )
            one = _Applied(
                entries=0, rows=0, rows_new=0, refused=((raw, reason),), oldest_enqueued_at=None
            )
        oldest = [t for t in (total.oldest_enqueued_at, one.oldest_enqueued_at) if t is not None]
        total = _Applied(
            entries=total.entries + one.entries,
            rows=total.rows + one.rows,
            rows_new=total.rows_new + one.rows_new,
            refused=total.refused + one.refused,
            oldest_enqueued_at=min(oldest) if oldest else None,
        )
    return total


def _succeeded(stats: FlusherStatistics) -> bool:
    if stats.consecutive_failures >= 1:
        logger.info("flushing works again", extra={"after_failures": stats.consecutive_failures})
    stats.consecutive_failures = 0
    return True


def _failed(stats: FlusherStatistics, policy: FlushPolicy, exc: BaseException, what: str) -> None:
    stats.failed_flushes += 1
    stats.consecutive_failures += 1
    stats.last_error = (
        f"{what}: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    )
    level = (
        logging.CRITICAL if stats.consecutive_failures == policy.failure_limit else logging.WARNING
    )
    logger.log(
        level,
        "artifact flush failed; the entries stay in Redis and are retried",
        extra={"error": stats.last_error, "consecutive_failures": stats.consecutive_failures},
    )


@dataclass(frozen=True, slots=True)
class _Applied:
    entries: int
    rows: int
    rows_new: int
    refused: tuple[tuple[bytes, str], ...]  # entries that can never be applied, with why
    oldest_enqueued_at: float | None


def _count(stats: FlusherStatistics, applied: _Applied) -> None:
    stats.commits += 1
    stats.entries_flushed += applied.entries
    stats.rows_flushed += applied.rows
    stats.rows_new += applied.rows_new
    if applied.oldest_enqueued_at is not None:
        lag = max(0.0, time.time() - applied.oldest_enqueued_at)
        stats.last_lag_s = lag
        stats.max_lag_s = max(stats.max_lag_s, lag)


# -- worker-thread halves ------------------------------------------------------------------------


def _heartbeat_and_lock(
    client: redis.Redis, *, keys: RedisKeys, flusher: str, token: str, ttl_ms: int
) -> tuple[bool, int]:
    pipe = client.pipeline(transaction=False)
    pipe.sadd(keys.flushers, flusher)
    pipe.set(keys.alive(flusher), "1", px=ttl_ms)
    pipe.set(keys.lock, token, nx=True, px=ttl_ms)
    pipe.llen(keys.pending)
    _, _, acquired, depth = pipe.execute()
    return bool(acquired), int(depth)


def _recover(client: redis.Redis, *, link: RedisLink, flusher: str) -> int:
    """Re-queue the processing lists of flushers whose liveness key expired, and our own
    leftovers (a hand-back that failed); returns how many entries moved."""
    keys = link.keys
    moved = int(link.requeue_all(keys=[keys.processing(flusher), keys.pending], args=[]))
    for raw in client.smembers(keys.flushers):
        other = raw.decode() if isinstance(raw, bytes) else str(raw)
        if other == flusher or client.exists(keys.alive(other)):
            continue
        moved += int(link.requeue_all(keys=[keys.processing(other), keys.pending], args=[]))
        client.srem(keys.flushers, other)
    return moved


def _take(
    client: redis.Redis, *, keys: RedisKeys, processing: str, count: int
) -> tuple[list[bytes], int]:
    """Move up to ``count`` oldest entries from pending to ``processing`` (oldest first)."""
    pipe = client.pipeline(transaction=False)
    for _ in range(count):
        pipe.lmove(keys.pending, processing, "RIGHT", "LEFT")
    pipe.llen(keys.pending)
    *moved, depth = pipe.execute()
    return [raw for raw in moved if raw is not None], int(depth)


def _deregister(client: redis.Redis, *, link: RedisLink, flusher: str) -> None:
    keys = link.keys
    link.requeue_all(keys=[keys.processing(flusher), keys.pending], args=[])
    pipe = client.pipeline(transaction=True)
    pipe.srem(keys.flushers, flusher)
    pipe.delete(keys.alive(flusher))
    pipe.execute()


def _apply_entries(connection: sa.Connection, *, raws: list[bytes]) -> _Applied:
    """Apply entries in one transaction: every row first, then place corrections, then
    deletes. That keeps their meaning: a correction or a delete only ever names a row of its
    own or an earlier entry (ULIDs are never reused)."""
    rows: list[dict[str, Any]] = []
    placements: list[Placement] = []
    deletes: list[tuple[str, list[str]]] = []
    oldest: float | None = None
    refused: list[tuple[bytes, str]] = []
    for raw in raws:
        try:
            entry = decode_entry(raw)
        except (ValueError, KeyError, TypeError) as exc:
            refused.append((raw, f"cannot be decoded: {type(exc).__name__}: {exc}"[:300]))
            continue
        rows.extend(entry.rows)
        placements.extend(entry.placements)
        deletes.extend(entry.deletes)
        oldest = entry.enqueued_at if oldest is None else min(oldest, entry.enqueued_at)
    new = apply_writes(connection, rows=rows, placements=placements, deletes=deletes)
    return _Applied(
        entries=len(raws) - len(refused),
        rows=len(rows),
        rows_new=new,
        refused=tuple(refused),
        oldest_enqueued_at=oldest,
    )
