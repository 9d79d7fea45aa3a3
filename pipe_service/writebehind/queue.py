"""The write-behind queue: a turn's encoded rows go to a Redis pending list and a TTL read
cache in one MULTI/EXEC; the writer acks the turn once Redis answered, and the redis_flusher
actor moves the entries to the database later.

One pending entry is one group of turn batches (JSON)::

    {"v": 1, "t": <unix seconds enqueued>,
     "rows": [<encoded row, payload base64>], "placements": [[owner, id, position, anchor]],
     "deletes": [[owner, [id, ...]]]}

Entries are applied in list order, so a place correction or a delete never overtakes the row
it is about. Applying an entry twice is harmless (upserts by ULID, idempotent updates).

Replay reads the cache first — one ``MGET`` for every marker of a request — and only the ids
it does not find go to the database.

Synopsis::

    behind = WriteBehind(link, settings.redis, flusher_id=new_flusher_id(), nudges=inbox)
    if behind.accepting():
        depth = await behind.enqueue(codec, rows, placements=(), deletes=())
    load, remaining = await behind.read_cached(codec, ids, owner="user:u", chat_id="c")
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

import redis
import trio

from actors import Inbox, OverloadPolicy
from pipe_service.config.redis import RedisSettings
from pipe_service.redis_link import RedisKeys, RedisLink
from pipe_service.storage.artifact_store import (
    NewArtifact,
    Placement,
    ReplayLoad,
    StoredArtifact,
    encode_rows,
)
from pipe_service.storage.codec import ArtifactCorruptError, ArtifactKeyError, PayloadCodec
from pipe_service.tools.breaker import BreakerState, SlidingWindowBreaker

logger = logging.getLogger("pipe_service.writebehind")

ENTRY_VERSION: Final = 1
FLUSH_NUDGE_INBOX: Final = "redis_flusher"
# A nudge that is already queued covers every later one: one slot, extra nudges dropped.
FLUSH_NUDGE_INBOX_SIZE: Final = 1


@dataclass(frozen=True, slots=True)
class FlushNudge:
    """Ask the flusher to run now: the pending list grew past ``flush_nudge_entries``."""

    depth: int


def open_nudge_inbox() -> Inbox[FlushNudge]:
    return Inbox[FlushNudge](FLUSH_NUDGE_INBOX, FLUSH_NUDGE_INBOX_SIZE, OverloadPolicy.DROP)


def new_flusher_id() -> str:
    """A fresh id per process start: a restarted sidecar never adopts a dead one's claims
    directly; they are recovered once its liveness key expired."""
    return secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class PendingEntry:
    rows: list[dict[str, Any]]
    placements: list[Placement]
    deletes: list[tuple[str, list[str]]]
    enqueued_at: float


@dataclass(frozen=True, slots=True)
class WriteBehindStatistics:
    enqueued_entries: int
    enqueued_rows: int
    redis_errors: int
    direct_writes: int
    breaker: str
    pending: int
    pending_warning: bool
    cache_hits: int
    cache_misses: int
    last_error: str | None


class WriteBehind:
    """The producers' side of the write-behind (used by the db_writer and replay)."""

    def __init__(
        self,
        link: RedisLink,
        settings: RedisSettings,
        *,
        flusher_id: str,
        nudges: Inbox[FlushNudge],
    ) -> None:
        self.link = link
        self.settings = settings
        self.flusher_id = flusher_id
        self.nudges = nudges
        self.breaker = SlidingWindowBreaker(
            failures=settings.breaker_failures, window_s=settings.breaker_window_s
        )
        self.enqueued_entries = 0
        self.enqueued_rows = 0
        self.redis_errors = 0
        self.direct_writes = 0
        self.cache_hits = 0
        self.cache_misses = 0
        self.pending = 0
        self.last_error: str | None = None
        self._warned = False

    @property
    def keys(self) -> RedisKeys:
        return self.link.keys

    def accepting(self) -> bool:
        """False while the Redis breaker is open: writes go straight to the database."""
        return self.breaker.allows(trio.current_time())

    def record_redis_error(self, exc: BaseException) -> None:
        self.redis_errors += 1
        self.last_error = f"{type(exc).__name__}: {str(exc)[:200]}"
        before = self.breaker.state(trio.current_time())
        self.breaker.record_failure(trio.current_time())
        if before is BreakerState.CLOSED and not self.accepting():
            logger.error(
                "Redis keeps failing: artifacts are written to the database directly for %g s",
                self.settings.breaker_window_s,
                extra={"error": self.last_error},
            )

    def note_pending(self, depth: int) -> None:
        """Track the pending depth: nudge the flusher, warn once above the threshold."""
        self.pending = depth
        if depth >= self.settings.flush_nudge_entries:
            self.nudges.send_nowait(FlushNudge(depth))
        over = depth > self.settings.pending_warn_threshold
        if over and not self._warned:
            logger.warning(
                "the Redis pending list is over its threshold: the database is not keeping up "
                "(or is down); artifacts wait in Redis",
                extra={"pending": depth, "threshold": self.settings.pending_warn_threshold},
            )
        elif self._warned and not over:
            logger.info("the Redis pending list is back under its threshold")
        self._warned = over

    async def enqueue(
        self,
        codec: PayloadCodec,
        rows: Sequence[NewArtifact],
        *,
        placements: Sequence[Placement] = (),
        deletes: Sequence[tuple[str, Sequence[str]]] = (),
    ) -> int:
        """Put one entry on the pending list and its rows in the cache, atomically; returns
        the pending depth. Raises ``redis.RedisError`` (nothing of the entry is kept then:
        MULTI/EXEC applies all of it or none)."""
        self.breaker.begin(trio.current_time())
        try:
            depth = await self.link.run_sync(
                partial(
                    _enqueue_sync,
                    keys=self.keys,
                    link=self.link,
                    codec=codec,
                    rows=list(rows),
                    placements=list(placements),
                    deletes=[(owner, list(ids)) for owner, ids in deletes],
                    cache_ttl_ms=self.settings.cache_ttl_s * 1000,
                )
            )
        except redis.RedisError as exc:
            self.record_redis_error(exc)
            raise
        except BaseException:
            self.breaker.abandon()
            raise
        self.breaker.record_success(trio.current_time())
        self.enqueued_entries += 1
        self.enqueued_rows += len(rows)
        self.note_pending(depth)
        return depth

    async def read_cached(
        self, codec: PayloadCodec, ids: Sequence[str], *, owner: str, chat_id: str
    ) -> tuple[ReplayLoad, list[str]]:
        """Look ``ids`` up in the cache (one MGET); returns what was found, classified like
        a database read, and the ids to read from the database. A Redis error means
        "found nothing": the database answers instead."""
        wanted = list(dict.fromkeys(ids))
        # Skip only while the breaker is open: a half-open breaker's trial is for writes.
        if not wanted or self.breaker.state(trio.current_time()) is BreakerState.OPEN:
            return ReplayLoad(), wanted
        try:
            load, remaining = await self.link.run_sync(
                partial(
                    _read_cached_sync,
                    keys=self.keys,
                    codec=codec,
                    ids=wanted,
                    owner=owner,
                    chat_id=chat_id,
                )
            )
        except redis.RedisError as exc:
            self.record_redis_error(exc)
            return ReplayLoad(), wanted
        self.cache_hits += len(wanted) - len(remaining)
        self.cache_misses += len(remaining)
        return load, remaining

    def statistics(self) -> WriteBehindStatistics:
        return WriteBehindStatistics(
            enqueued_entries=self.enqueued_entries,
            enqueued_rows=self.enqueued_rows,
            redis_errors=self.redis_errors,
            direct_writes=self.direct_writes,
            breaker=self.breaker.state(trio.current_time()).value,
            pending=self.pending,
            pending_warning=self.pending > self.settings.pending_warn_threshold,
            cache_hits=self.cache_hits,
            cache_misses=self.cache_misses,
            last_error=self.last_error,
        )


# -- worker-thread halves ------------------------------------------------------------------------


def _row_json(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "payload": base64.b64encode(row["payload"]).decode("ascii")}


def _row_from_json(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "payload": base64.b64decode(data["payload"])}


def encode_entry(
    rows: list[dict[str, Any]],
    placements: list[Placement],
    deletes: list[tuple[str, list[str]]],
    *,
    now: float,
) -> bytes:
    return json.dumps(
        {
            "v": ENTRY_VERSION,
            "t": now,
            "rows": [_row_json(row) for row in rows],
            "placements": [[p.owner, p.id, p.position, p.anchor] for p in placements],
            "deletes": [[owner, ids] for owner, ids in deletes],
        },
        separators=(",", ":"),
    ).encode("utf-8")


def decode_entry(raw: bytes) -> PendingEntry:
    """Raises ``ValueError`` (or ``KeyError``/``TypeError``) for an entry that is not ours."""
    data = json.loads(raw)
    if data.get("v") != ENTRY_VERSION:
        raise ValueError(f"unknown pending entry version {data.get('v')!r}")
    return PendingEntry(
        rows=[_row_from_json(row) for row in data["rows"]],
        placements=[Placement(str(o), str(i), int(p), str(a)) for o, i, p, a in data["placements"]],
        deletes=[(str(owner), [str(i) for i in ids]) for owner, ids in data["deletes"]],
        enqueued_at=float(data["t"]),
    )


def _enqueue_sync(
    client: redis.Redis,
    *,
    keys: RedisKeys,
    link: RedisLink,
    codec: PayloadCodec,
    rows: list[NewArtifact],
    placements: list[Placement],
    deletes: list[tuple[str, list[str]]],
    cache_ttl_ms: int,
) -> int:
    now = time.time()
    encoded = encode_rows(codec, rows, now)
    pipe = client.pipeline(transaction=True)
    for row in encoded:
        pipe.set(keys.artifact(row["id"]), json.dumps(_row_json(row)), px=cache_ttl_ms)
    for p in placements:
        link.place_cached(
            keys=[keys.artifact(p.id)], args=[p.owner, p.position, p.anchor], client=pipe
        )
    for owner, ids in deletes:
        for artifact_id in ids:
            link.forget_cached(keys=[keys.artifact(artifact_id)], args=[owner], client=pipe)
    pipe.lpush(keys.pending, encode_entry(encoded, placements, deletes, now=now))
    results = pipe.execute()
    return int(results[-1])


def _read_cached_sync(
    client: redis.Redis,
    *,
    keys: RedisKeys,
    codec: PayloadCodec,
    ids: list[str],
    owner: str,
    chat_id: str,
) -> tuple[ReplayLoad, list[str]]:
    found = ReplayLoad()
    remaining: list[str] = []
    values = client.mget([keys.artifact(artifact_id) for artifact_id in ids])
    for artifact_id, raw in zip(ids, values, strict=True):
        if raw is None:
            remaining.append(artifact_id)
            continue
        row = json.loads(raw)
        if row["owner"] != owner or row["chat_id"] != chat_id:
            found.foreign.append(artifact_id)
            continue
        try:
            item = codec.decode(base64.b64decode(row["payload"]))
        except (ArtifactKeyError, ArtifactCorruptError) as exc:
            found.unreadable[artifact_id] = str(exc)
            continue
        if not isinstance(item, dict):
            found.unreadable[artifact_id] = "payload is not an item object"
            continue
        found.owned[artifact_id] = StoredArtifact(
            id=artifact_id,
            message_id=row["message_id"],
            model=row["model"],
            item_type=row["item_type"],
            position=int(row["position"]),
            anchor=row["anchor"],
            retention=row["retention"],
            item=item,
        )
    return found, remaining
