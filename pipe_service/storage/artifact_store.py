"""Artifact rows in and out of the database: upsert by id, owned batched reads, deletes.

Every function takes a SQLAlchemy ``Connection`` inside the caller's transaction and runs in a
worker thread (``Database.run_sync``); payloads pass through the :class:`PayloadCodec` there, so
JSON, LZ4 and Fernet work never runs on the trio thread.

Writes are idempotent: inserting an id that exists does nothing, so a batch delivered twice
(a retried commit, a Redis write-behind replay) never duplicates a row.

Synopsis::

    await database.run_sync(partial(insert_artifacts, codec=codec, rows=rows, now=time.time()))
    found = await database.run_sync(
        partial(load_for_replay, codec=codec, ids=ids, owner="user:u1", chat_id="c1",
                now=time.time())
    )
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from pipe_service.storage.codec import ArtifactCorruptError, ArtifactKeyError, PayloadCodec
from pipe_service.storage.schema import artifacts

Retention = Literal["conversation", "next_reply"]


@dataclass(frozen=True, slots=True)
class NewArtifact:
    """One item to store; ``encrypt`` is decided by the caller's encryption setting."""

    id: str
    owner: str
    chat_id: str
    message_id: str
    model: str
    item: dict[str, Any]
    position: int
    anchor: str = ""
    retention: Retention = "conversation"
    encrypt: bool = True

    @property
    def item_type(self) -> str:
        return str(self.item.get("type", ""))


@dataclass(frozen=True, slots=True)
class StoredArtifact:
    id: str
    message_id: str
    model: str
    item_type: str
    position: int
    anchor: str
    retention: str
    item: dict[str, Any]


@dataclass(slots=True)
class ReplayLoad:
    """What one replay read found, by marker id.

    ``owned``: decoded artifacts of the requesting owner and chat. ``foreign``: ids that exist
    but belong to another owner or chat (never decoded). ``missing``: ids not stored (expired,
    or never written). ``unreadable``: owned rows the codec refused (wrong key, corruption),
    with the reason.
    """

    owned: dict[str, StoredArtifact] = field(default_factory=dict)
    foreign: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)


def encode_rows(
    codec: PayloadCodec, rows: Iterable[NewArtifact], now: float
) -> list[dict[str, Any]]:
    key_id = codec.current_key_id
    return [
        {
            "id": row.id,
            "owner": row.owner,
            "chat_id": row.chat_id,
            "message_id": row.message_id,
            "model": row.model,
            "item_type": row.item_type,
            "position": row.position,
            "anchor": row.anchor,
            "retention": row.retention,
            "payload": codec.encode(row.item, encrypt=row.encrypt),
            "key_id": key_id if row.encrypt else None,
            "created_at": now,
            "accessed_at": now,
        }
        for row in rows
    ]


def insert_encoded(connection: sa.Connection, values: Sequence[dict[str, Any]]) -> int:
    """Insert already-encoded rows, skipping ids that exist; returns how many were new."""
    if not values:
        return 0
    dialect = connection.dialect.name
    if dialect == "postgresql":
        statement: Any = postgresql.insert(artifacts).on_conflict_do_nothing(index_elements=["id"])
    elif dialect == "sqlite":
        statement = sqlite.insert(artifacts).on_conflict_do_nothing(index_elements=["id"])
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(f"unsupported database dialect {dialect!r}")
    # rowcount is unreliable for executemany on psycopg; RETURNING counts what was new.
    result = connection.execute(statement.returning(artifacts.c.id), list(values))
    return len(result.all())


def insert_artifacts(
    connection: sa.Connection, *, codec: PayloadCodec, rows: Sequence[NewArtifact], now: float
) -> int:
    return insert_encoded(connection, encode_rows(codec, rows, now))


@dataclass(frozen=True, slots=True)
class Placement:
    """A correction of a stored row's place: ``owner``'s row ``id`` goes to ``position``,
    before the tool call ``anchor``."""

    owner: str
    id: str
    position: int
    anchor: str


def apply_writes(
    connection: sa.Connection,
    *,
    rows: Sequence[dict[str, Any]],
    placements: Sequence[Placement] = (),
    deletes: Sequence[tuple[str, Sequence[str]]] = (),
) -> int:
    """Insert encoded ``rows`` (upsert by id), then correct places, then delete consumed ids,
    in this order; every step is idempotent, so a batch applied twice stores the same thing.
    Returns how many rows were new."""
    new = insert_encoded(connection, rows)
    if placements:
        connection.execute(
            sa.update(artifacts)
            .where(artifacts.c.id == sa.bindparam("b_id"))
            .where(artifacts.c.owner == sa.bindparam("b_owner"))
            .values(position=sa.bindparam("b_position"), anchor=sa.bindparam("b_anchor")),
            [
                {"b_id": p.id, "b_owner": p.owner, "b_position": p.position, "b_anchor": p.anchor}
                for p in placements
            ],
        )
    for owner, ids in deletes:
        delete_artifacts(connection, ids, owner=owner)
    return new


def delete_artifacts(connection: sa.Connection, ids: Sequence[str], *, owner: str) -> int:
    """Delete the owner's rows among ``ids`` (a foreign id is never deleted)."""
    if not ids:
        return 0
    result = connection.execute(
        sa.delete(artifacts).where(artifacts.c.id.in_(list(ids)), artifacts.c.owner == owner)
    )
    return result.rowcount


def load_for_replay(
    connection: sa.Connection,
    *,
    codec: PayloadCodec,
    ids: Sequence[str],
    owner: str,
    chat_id: str,
    now: float,
) -> ReplayLoad:
    """One read for every marker of a request; refreshes ``accessed_at`` of what it returns."""
    found = ReplayLoad()
    if not ids:
        return found
    wanted = list(dict.fromkeys(ids))
    mine = sa.and_(artifacts.c.owner == owner, artifacts.c.chat_id == chat_id)
    rows = connection.execute(
        sa.select(
            artifacts.c.id,
            artifacts.c.owner,
            artifacts.c.chat_id,
            artifacts.c.message_id,
            artifacts.c.model,
            artifacts.c.item_type,
            artifacts.c.position,
            artifacts.c.anchor,
            artifacts.c.retention,
            # Another owner's payload never leaves the database, not even into this process.
            sa.case((mine, artifacts.c.payload), else_=sa.null()).label("payload"),
        ).where(artifacts.c.id.in_(wanted))
    ).all()
    seen: set[str] = set()
    for row in rows:
        seen.add(row.id)
        if row.owner != owner or row.chat_id != chat_id:
            found.foreign.append(row.id)
            continue
        try:
            item = codec.decode(bytes(row.payload))
        except (ArtifactKeyError, ArtifactCorruptError) as exc:
            found.unreadable[row.id] = str(exc)
            continue
        if not isinstance(item, dict):
            found.unreadable[row.id] = "payload is not an item object"
            continue
        found.owned[row.id] = StoredArtifact(
            id=row.id,
            message_id=row.message_id,
            model=row.model,
            item_type=row.item_type,
            position=row.position,
            anchor=row.anchor,
            retention=row.retention,
            item=item,
        )
    found.missing = [artifact_id for artifact_id in wanted if artifact_id not in seen]
    if found.owned:
        connection.execute(
            sa.update(artifacts)
            .where(artifacts.c.id.in_(list(found.owned)))
            .values(accessed_at=now)
        )
    return found


def read_artifact(connection: sa.Connection, *, codec: PayloadCodec, artifact_id: str) -> Any:
    """One row's decoded item regardless of owner (operator tools and tests); None if absent."""
    payload = connection.execute(
        sa.select(artifacts.c.payload).where(artifacts.c.id == artifact_id)
    ).scalar_one_or_none()
    return None if payload is None else codec.decode(bytes(payload))


def delete_not_accessed_since(connection: sa.Connection, *, cutoff: float, limit: int) -> int:
    """Delete up to ``limit`` rows not replayed since ``cutoff`` (unix seconds)."""
    doomed = (
        sa.select(artifacts.c.id)
        .where(artifacts.c.accessed_at < cutoff)
        .order_by(artifacts.c.accessed_at)
        .limit(limit)
        .scalar_subquery()
    )
    return connection.execute(sa.delete(artifacts).where(artifacts.c.id.in_(doomed))).rowcount


def count_artifacts(connection: sa.Connection) -> int:
    return connection.execute(sa.select(sa.func.count()).select_from(artifacts)).scalar_one()
