"""Re-encrypt stored artifacts with the current key, in resumable batches.

Each batch is its own transaction: rows still on an older key (``key_id`` not the current
key's id) are decoded with the whole ring and re-encoded with the current key. Stopping half-way
loses nothing: the rows done carry the new id, and the next run picks up the rest. Rows stored
unencrypted (``key_id`` NULL, the reasoning-only setting) are left as they are.

Synopsis::

    total = await database.run_sync(partial(count_to_rotate, current_key_id=codec.current_key_id))
    async for done in rotate_in_batches(database, codec, batch_size=500):
        progress.update(task, completed=done)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

import sqlalchemy as sa

from pipe_service.storage.codec import ArtifactKeyError, PayloadCodec
from pipe_service.storage.engine import Database
from pipe_service.storage.schema import artifacts


def _stale(current_key_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(artifacts.c.key_id.is_not(None), artifacts.c.key_id != current_key_id)


def count_to_rotate(connection: sa.Connection, *, current_key_id: str) -> int:
    return connection.execute(
        sa.select(sa.func.count()).select_from(artifacts).where(_stale(current_key_id))
    ).scalar_one()


def rotate_batch(connection: sa.Connection, *, codec: PayloadCodec, limit: int) -> int:
    """Re-encrypt up to ``limit`` stale rows; returns how many (0: nothing left)."""
    current = codec.current_key_id
    if current is None:
        raise ArtifactKeyError("cannot rotate: no encryption key is configured")
    query = (
        sa.select(artifacts.c.id, artifacts.c.payload)
        .where(_stale(current))
        .order_by(artifacts.c.id)
        .limit(limit)
    )
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)  # two rotations never fight over rows
    rows = connection.execute(query).all()
    for row in rows:
        try:
            item = codec.decode(bytes(row.payload))
        except ArtifactKeyError as exc:
            raise ArtifactKeyError(f"artifact {row.id}: {exc}") from None
        connection.execute(
            sa.update(artifacts)
            .where(artifacts.c.id == row.id)
            .values(payload=codec.encode(item, encrypt=True), key_id=current)
        )
    return len(rows)


async def rotate_in_batches(
    database: Database, codec: PayloadCodec, *, batch_size: int
) -> AsyncIterator[int]:
    """Yield the running count of re-encrypted rows after each committed batch."""
    done = 0
    while True:
        count = await database.run_sync(partial(rotate_batch, codec=codec, limit=batch_size))
        if count == 0:
            return
        done += count
        yield done
