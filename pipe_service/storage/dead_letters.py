"""Dead letters: artifacts the service could not persist, kept with their reason until an
operator retries or purges them (``pipe-service dlq``).

The table lives in its own database (by default a SQLite file in the var dir), so a letter can
be written exactly when the artifact database is the thing that is down. Its payload goes
through the persistence codec (JSON → LZ4 → Fernet with the artifact key ring), so a letter is
as protected as the rows it stands for.

``pipe_dead_letters``:

===============  ============================================================================
id               ULID, primary key (what ``dlq show/retry/purge`` take)
kind             what the payload is: ``pending_entry`` (a Redis write-behind entry: rows,
                 place corrections and deletes, applied together) or ``undecodable_entry``
reason           why it could not be persisted (the first failure; never key material)
last_error       the error of the last failed retry ('' before any retry)
owner, chat_id   whose artifacts these are (the first row's), for filtering
item_ids         JSON list of the artifact ids in the letter
payload          the letter's value through the codec
key_id           the key that encrypted ``payload``; NULL when stored plain
attempts         failed attempts: flush rounds before it became a letter, plus failed retries
first_failed_at  unix seconds of the first failure (age and retention count from here)
last_failed_at   unix seconds of the last failure
===============  ============================================================================

Counters (letters written, retried, retries failed) are kept in ``pipe_dead_letter_counts``
next to the table, so the sidecar's ``/metrics`` also counts what ``pipe-service dlq retry``
did from another process.

Synopsis::

    letters = DeadLetters(Database.open(settings.effective_dead_letter_url, pool_size=1))
    await letters.prepare()
    await letters.add(codec, [NewLetter("pending_entry", "database down", entry, ...)])
    rows = await letters.list_letters(kind="pending_entry", older_than_s=3600)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

import sqlalchemy as sa

from pipe_service.storage.codec import PayloadCodec
from pipe_service.storage.engine import Database
from pipe_service.storage.ids import UlidGenerator

DEAD_LETTERS_TABLE: Final = "pipe_dead_letters"
COUNTS_TABLE: Final = "pipe_dead_letter_counts"
KIND_PENDING_ENTRY: Final = "pending_entry"
KIND_UNDECODABLE: Final = "undecodable_entry"
REASON_CHARS: Final = 500
WRITTEN: Final = "written"
RETRIED: Final = "retried"
RETRY_FAILED: Final = "retry_failed"
PURGED: Final = "purged"

metadata = sa.MetaData()

dead_letters = sa.Table(
    DEAD_LETTERS_TABLE,
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("last_error", sa.Text, nullable=False, server_default=""),
    sa.Column("owner", sa.String(255), nullable=False, server_default=""),
    sa.Column("chat_id", sa.String(255), nullable=False, server_default=""),
    sa.Column("item_ids", sa.Text, nullable=False, server_default="[]"),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("key_id", sa.String(16), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
    sa.Column("first_failed_at", sa.Float, nullable=False),
    sa.Column("last_failed_at", sa.Float, nullable=False),
    sa.Index("ix_pipe_dead_letters_first_failed_at", "first_failed_at"),
    sa.Index("ix_pipe_dead_letters_kind", "kind"),
)

counts = sa.Table(
    COUNTS_TABLE,
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)


@dataclass(frozen=True, slots=True)
class NewLetter:
    """A letter to write: ``value`` is JSON-able and goes through the codec."""

    kind: str
    reason: str
    value: Any
    owner: str = ""
    chat_id: str = ""
    item_ids: tuple[str, ...] = ()
    attempts: int = 1
    first_failed_at: float | None = None


@dataclass(frozen=True, slots=True)
class LetterSummary:
    """A letter without its payload (what ``dlq list`` and ``dlq show`` print)."""

    id: str
    kind: str
    reason: str
    last_error: str
    owner: str
    chat_id: str
    item_ids: tuple[str, ...]
    payload_bytes: int
    encrypted: bool
    attempts: int
    first_failed_at: float
    last_failed_at: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "reason": self.reason,
            "last_error": self.last_error,
            "owner": self.owner,
            "chat_id": self.chat_id,
            "item_ids": list(self.item_ids),
            "payload_bytes": self.payload_bytes,
            "encrypted": self.encrypted,
            "attempts": self.attempts,
            "first_failed_at": self.first_failed_at,
            "last_failed_at": self.last_failed_at,
        }


@dataclass(frozen=True, slots=True)
class DeadLetterCounts:
    pending: int
    written: int
    retried: int
    retry_failed: int
    purged: int
    oldest_first_failed_at: float | None


class DeadLetters:
    """The dead-letter table: write, list, load, retry bookkeeping, purge.

    Every method runs its statement in the database's worker threads; errors
    (``SQLAlchemyError``) reach the caller, who decides whether the item is then kept
    elsewhere (the flusher hands its batch back to Redis).
    """

    def __init__(self, database: Database, *, wall_clock: Callable[[], float] = time.time) -> None:
        self.database = database
        self._clock = wall_clock
        self._ids = UlidGenerator()
        self.written = 0  # by this process, for /status
        self._prepared = False

    async def prepare(self) -> None:
        """Create the tables if they are missing (idempotent; safe with several sidecars).
        Every other method calls it first, so a store that was down at start works later."""
        if self._prepared:
            return
        try:
            await self.database.run_sync(_create_tables)
        except sa.exc.DatabaseError:
            # Another worker or sidecar created them between our check and our CREATE
            # (``serve --workers`` starts several at once); a second look finds them. Any
            # other failure (the database is down) fails again here and reaches the caller.
            await self.database.run_sync(_create_tables)
        self._prepared = True

    async def add(self, codec: PayloadCodec, letters: Sequence[NewLetter]) -> list[str]:
        """Write ``letters`` in one transaction; returns their ids."""
        await self.prepare()
        if not letters:
            return []
        now = self._clock()
        encrypt = codec.keyring is not None
        rows: list[dict[str, Any]] = []
        for letter in letters:
            first = letter.first_failed_at if letter.first_failed_at is not None else now
            rows.append(
                {
                    "id": self._ids.new(),
                    "kind": letter.kind,
                    "reason": letter.reason[:REASON_CHARS],
                    "last_error": "",
                    "owner": letter.owner[:255],
                    "chat_id": letter.chat_id[:255],
                    "item_ids": json.dumps(list(letter.item_ids)),
                    "payload": codec.encode(letter.value, encrypt=encrypt),
                    "key_id": codec.current_key_id if encrypt else None,
                    "attempts": letter.attempts,
                    "first_failed_at": first,
                    "last_failed_at": now,
                }
            )
        await self.database.run_sync(partial(_insert, rows=rows))
        self.written += len(rows)
        return [str(row["id"]) for row in rows]

    async def list_letters(
        self, *, kind: str | None = None, older_than_s: float | None = None, limit: int = 1000
    ) -> list[LetterSummary]:
        await self.prepare()
        before = self._clock() - older_than_s if older_than_s is not None else None
        return await self.database.run_sync(
            partial(_select_summaries, kind=kind, before=before, limit=limit)
        )

    async def summary(self, letter_id: str) -> LetterSummary | None:
        found = await self.database.run_sync(
            partial(_select_summaries, kind=None, before=None, limit=1, letter_id=letter_id)
        )
        return found[0] if found else None

    async def payload(self, codec: PayloadCodec, letter_id: str) -> Any:
        """The decoded value of one letter; ``KeyError`` when there is no such letter.
        Raises the codec's errors for a letter this key ring cannot read."""
        await self.prepare()
        blob = await self.database.run_sync(partial(_select_payload, letter_id=letter_id))
        if blob is None:
            raise KeyError(letter_id)
        return codec.decode(blob)

    async def ids(self, *, kind: str | None = None, older_than_s: float | None = None) -> list[str]:
        return [
            letter.id
            for letter in await self.list_letters(
                kind=kind, older_than_s=older_than_s, limit=1_000_000
            )
        ]

    async def resolved(self, letter_id: str) -> bool:
        """A retry succeeded: delete the letter and count it; False if it was already gone."""
        await self.prepare()
        return bool(await self.database.run_sync(partial(_resolve, letter_id=letter_id)))

    async def retry_failed(self, letter_id: str, error: str) -> None:
        await self.prepare()
        await self.database.run_sync(
            partial(
                _retry_failed, letter_id=letter_id, error=error[:REASON_CHARS], now=self._clock()
            )
        )

    async def purge(
        self,
        *,
        ids: Sequence[str] = (),
        older_than_s: float | None = None,
        everything: bool = False,
    ) -> int:
        """Delete the named letters, those older than ``older_than_s``, or all; returns how
        many went."""
        await self.prepare()
        before = self._clock() - older_than_s if older_than_s is not None else None
        return await self.database.run_sync(
            partial(_purge, ids=list(ids), before=before, everything=everything)
        )

    async def enforce_bounds(self, *, retention_days: float, max_letters: int) -> int:
        """Delete letters past the retention and the oldest beyond ``max_letters``."""
        await self.prepare()
        before = self._clock() - retention_days * 86400.0 if retention_days > 0 else None
        return await self.database.run_sync(
            partial(_enforce_bounds, before=before, max_letters=max_letters)
        )

    async def counts(self) -> DeadLetterCounts:
        await self.prepare()
        return await self.database.run_sync(_counts)


# -- worker-thread halves ------------------------------------------------------------------------


def _create_tables(connection: sa.Connection) -> None:
    metadata.create_all(connection, checkfirst=True)


def _bump(connection: sa.Connection, name: str, by: int) -> None:
    if by <= 0:
        return
    updated = connection.execute(
        sa.update(counts).where(counts.c.name == name).values(value=counts.c.value + by)
    ).rowcount
    if not updated:
        connection.execute(sa.insert(counts).values(name=name, value=by))


def _insert(connection: sa.Connection, *, rows: list[dict[str, Any]]) -> None:
    connection.execute(sa.insert(dead_letters), rows)
    _bump(connection, WRITTEN, len(rows))


def _summary(row: Any) -> LetterSummary:
    return LetterSummary(
        id=row.id,
        kind=row.kind,
        reason=row.reason,
        last_error=row.last_error,
        owner=row.owner,
        chat_id=row.chat_id,
        item_ids=tuple(json.loads(row.item_ids)),
        payload_bytes=int(row.payload_bytes or 0),
        encrypted=row.key_id is not None,
        attempts=int(row.attempts),
        first_failed_at=float(row.first_failed_at),
        last_failed_at=float(row.last_failed_at),
    )


def _select_summaries(
    connection: sa.Connection,
    *,
    kind: str | None,
    before: float | None,
    limit: int,
    letter_id: str | None = None,
) -> list[LetterSummary]:
    columns = [c for c in dead_letters.c if c.name != "payload"]
    query = sa.select(*columns, sa.func.length(dead_letters.c.payload).label("payload_bytes"))
    if letter_id is not None:
        query = query.where(dead_letters.c.id == letter_id)
    if kind is not None:
        query = query.where(dead_letters.c.kind == kind)
    if before is not None:
        query = query.where(dead_letters.c.first_failed_at < before)
    query = query.order_by(dead_letters.c.first_failed_at, dead_letters.c.id).limit(limit)
    return [_summary(row) for row in connection.execute(query)]


def _select_payload(connection: sa.Connection, *, letter_id: str) -> bytes | None:
    found = connection.execute(
        sa.select(dead_letters.c.payload).where(dead_letters.c.id == letter_id)
    ).scalar_one_or_none()
    return bytes(found) if found is not None else None


def _resolve(connection: sa.Connection, *, letter_id: str) -> int:
    deleted = connection.execute(sa.delete(dead_letters).where(dead_letters.c.id == letter_id))
    _bump(connection, RETRIED, deleted.rowcount)
    return int(deleted.rowcount)


def _retry_failed(connection: sa.Connection, *, letter_id: str, error: str, now: float) -> None:
    connection.execute(
        sa.update(dead_letters)
        .where(dead_letters.c.id == letter_id)
        .values(attempts=dead_letters.c.attempts + 1, last_failed_at=now, last_error=error)
    )
    _bump(connection, RETRY_FAILED, 1)


def _purge(
    connection: sa.Connection, *, ids: list[str], before: float | None, everything: bool
) -> int:
    statement = sa.delete(dead_letters)
    if not everything:
        conditions: list[sa.ColumnElement[bool]] = []
        if ids:
            conditions.append(dead_letters.c.id.in_(ids))
        if before is not None:
            conditions.append(dead_letters.c.first_failed_at < before)
        if not conditions:
            return 0
        statement = statement.where(sa.or_(*conditions))
    deleted = int(connection.execute(statement).rowcount)
    _bump(connection, PURGED, deleted)
    return deleted


def _enforce_bounds(connection: sa.Connection, *, before: float | None, max_letters: int) -> int:
    deleted = 0
    if before is not None:
        deleted += int(
            connection.execute(
                sa.delete(dead_letters).where(dead_letters.c.first_failed_at < before)
            ).rowcount
        )
    total = int(
        connection.execute(sa.select(sa.func.count()).select_from(dead_letters)).scalar_one()
    )
    if total > max_letters:
        oldest = (
            sa.select(dead_letters.c.id)
            .order_by(dead_letters.c.first_failed_at, dead_letters.c.id)
            .limit(total - max_letters)
        )
        doomed = [row[0] for row in connection.execute(oldest)]
        deleted += int(
            connection.execute(
                sa.delete(dead_letters).where(dead_letters.c.id.in_(doomed))
            ).rowcount
        )
    _bump(connection, PURGED, deleted)
    return deleted


def _counts(connection: sa.Connection) -> DeadLetterCounts:
    pending, oldest = connection.execute(
        sa.select(sa.func.count(), sa.func.min(dead_letters.c.first_failed_at))
    ).one()
    named = {
        str(name): int(value)
        for name, value in connection.execute(sa.select(counts.c.name, counts.c.value))
    }
    return DeadLetterCounts(
        pending=int(pending),
        written=int(named.get(WRITTEN, 0)),
        retried=int(named.get(RETRIED, 0)),
        retry_failed=int(named.get(RETRY_FAILED, 0)),
        purged=int(named.get(PURGED, 0)),
        oldest_first_failed_at=float(oldest) if oldest is not None else None,
    )
