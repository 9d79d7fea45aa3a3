"""Retry a dead letter through the normal persistence path, and turn a failed Redis
write-behind entry into a letter.

A ``pending_entry`` letter holds one write-behind entry (its rows already encoded by the
codec, as the flusher would have written them); retrying applies it exactly as the flusher
does (:func:`~pipe_service.storage.artifact_store.apply_writes`: upserts by ULID, so a retry
after a partial success stores the same thing). Success deletes the letter; failure counts an
attempt and records the error, and the letter stays.

Synopsis::

    outcome = await retry_letter(letters, artifact_db, codec, letter_id)
    if not outcome.ok:
        print(outcome.error)
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from pipe_service.storage.artifact_store import apply_writes
from pipe_service.storage.codec import ArtifactCorruptError, ArtifactKeyError, PayloadCodec
from pipe_service.storage.dead_letters import (
    KIND_PENDING_ENTRY,
    KIND_UNDECODABLE,
    DeadLetters,
    NewLetter,
)
from pipe_service.storage.engine import Database
from pipe_service.writebehind.queue import decode_entry


@dataclass(frozen=True, slots=True)
class RetryOutcome:
    id: str
    ok: bool
    rows: int = 0
    error: str | None = None


def letter_for_entry(raw: bytes, reason: str, *, attempts: int) -> NewLetter:
    """The letter standing for one write-behind entry (``raw`` as it sat in Redis)."""
    try:
        value: Any = json.loads(raw)
        entry = decode_entry(raw)
    except (ValueError, KeyError, TypeError):
        return NewLetter(
            kind=KIND_UNDECODABLE,
            reason=reason,
            value={"raw_base64": base64.b64encode(raw).decode("ascii")},
            attempts=attempts,
        )
    first = entry.rows[0] if entry.rows else {}
    return NewLetter(
        kind=KIND_PENDING_ENTRY,
        reason=reason,
        value=value,
        owner=str(first.get("owner", "")),
        chat_id=str(first.get("chat_id", "")),
        item_ids=tuple(str(row["id"]) for row in entry.rows),
        attempts=attempts,
        first_failed_at=entry.enqueued_at,
    )


async def retry_letter(
    letters: DeadLetters, database: Database, codec: PayloadCodec, letter_id: str
) -> RetryOutcome:
    """Re-apply one letter to the artifact ``database``; never raises for a letter that
    cannot be applied (that is the outcome), only for the dead-letter store itself failing."""
    summary = await letters.summary(letter_id)
    if summary is None:
        return RetryOutcome(letter_id, ok=False, error="no such dead letter")
    try:
        value = await letters.payload(codec, letter_id)
        if summary.kind != KIND_PENDING_ENTRY:
            raise ValueError(f"a {summary.kind} cannot be re-applied; inspect it, then purge it")
        entry = decode_entry(json.dumps(value).encode("utf-8"))
        await database.run_sync(
            partial(
                apply_writes, rows=entry.rows, placements=entry.placements, deletes=entry.deletes
            )
        )
    except (
        SQLAlchemyError,
        ArtifactKeyError,
        ArtifactCorruptError,
        ValueError,
        KeyError,
        TypeError,
    ) as exc:
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        await letters.retry_failed(letter_id, error)
        return RetryOutcome(letter_id, ok=False, error=error)
    await letters.resolved(letter_id)
    return RetryOutcome(letter_id, ok=True, rows=len(entry.rows))
