"""The db_writer actor: the one place artifacts are written, in batches, with an ack per batch.

Producers (chat turns) submit a :class:`WriteBatch` — the rows of one turn plus the ids of the
``next_reply`` artifacts that turn consumed — through :class:`ArtifactWriter`. The edge BLOCKS
when the inbox is full: a slow database slows the producers down, it never loses a batch. The
actor commits several batches in one transaction (group commit: whatever queued while the last
commit ran, up to ``max_batch`` rows, optionally waiting ``max_delay_s`` to fill) and then sets
each batch's :class:`WriteAck`. A producer shows the markers of a batch only after its ack says
``ok``: a marker never names a row that is not committed, even if the process is killed.

Synopsis::

    inbox = open_writer_inbox(settings.persistence.writer_inbox)
    writer = await supervisor.start(ActorSpec("db_writer", partial(run, ...), inbox=inbox,
                                              layer="sink", restart=restarts))
    ack = await writer.submit(rows, delete=(), owner="user:u1")
    with trio.move_on_after(ack_wait_s):
        await ack.wait()
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Final

import redis
import sqlalchemy as sa
import trio

from actors import Inbox, InboxReceiver, OverloadPolicy
from pipe_service.storage.artifact_store import NewArtifact, Placement, apply_writes, encode_rows
from pipe_service.storage.bootstrap import ArtifactStorage
from pipe_service.storage.codec import PayloadCodec
from pipe_service.writebehind.queue import WriteBehind

logger = logging.getLogger("pipe_service.persistence.db_writer")

WRITER_INBOX_NAME: Final = "db_writer"


class WriterClosedError(Exception):
    """The writer no longer accepts batches (the service is stopping)."""


class WriteAck:
    """Set once by the writer: ``ok`` after the batch committed, else ``error`` says why."""

    __slots__ = ("_done", "error", "ok")

    def __init__(self) -> None:
        self._done = trio.Event()
        self.ok = False
        self.error: str | None = None

    @property
    def done(self) -> bool:
        return self._done.is_set()

    async def wait(self) -> None:
        await self._done.wait()

    def settle(self, *, error: str | None) -> None:
        if self._done.is_set():
            return
        self.ok = error is None
        self.error = error
        self._done.set()


@dataclass(frozen=True, slots=True)
class PlacementUpdate:
    """A row written early (reasoning, as it streamed) whose final place became known later."""

    id: str
    position: int
    anchor: str


@dataclass(frozen=True, slots=True)
class WriteBatch:
    """One turn's writes: ``rows`` to insert, ``placements`` to correct, ``delete`` ids of
    ``owner`` to remove."""

    rows: tuple[NewArtifact, ...]
    delete: tuple[str, ...]
    owner: str
    placements: tuple[PlacementUpdate, ...] = ()
    ack: WriteAck = field(default_factory=WriteAck)


@dataclass(frozen=True)
class WriterPolicy:
    """``max_batch`` rows per transaction; ``max_delay_s`` > 0 waits that long for more."""

    max_batch: int = 256
    max_delay_s: float = 0.0


@dataclass(frozen=True, slots=True)
class WriterStatistics:
    batches: int
    rows_written: int
    commits: int
    failed_commits: int
    last_error: str | None
    inbox_depth: int


class ArtifactWriter:
    """The producers' side of the writer: submit a batch, get its ack."""

    def __init__(self, inbox: Inbox[WriteBatch]) -> None:
        self.inbox = inbox
        self.batches = 0
        self.rows_written = 0
        self.commits = 0
        self.failed_commits = 0
        self.last_error: str | None = None

    async def submit(
        self,
        rows: Sequence[NewArtifact],
        *,
        delete: Sequence[str] = (),
        placements: Sequence[PlacementUpdate] = (),
        owner: str,
    ) -> WriteAck:
        """Queue a batch (waits while the inbox is full); raises :class:`WriterClosedError`
        once the writer stopped taking work."""
        batch = WriteBatch(
            rows=tuple(rows), delete=tuple(delete), owner=owner, placements=tuple(placements)
        )
        try:
            await self.inbox.send(batch)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise WriterClosedError("the artifact writer is shut down") from None
        self.batches += 1
        return batch.ack

    def statistics(self) -> WriterStatistics:
        return WriterStatistics(
            batches=self.batches,
            rows_written=self.rows_written,
            commits=self.commits,
            failed_commits=self.failed_commits,
            last_error=self.last_error,
            inbox_depth=self.inbox.statistics().depth,
        )


def open_writer_inbox(size: int) -> Inbox[WriteBatch]:
    return Inbox[WriteBatch](WRITER_INBOX_NAME, size, OverloadPolicy.BLOCK)


async def run(
    inbox: InboxReceiver[WriteBatch],
    writer: ArtifactWriter,
    storage: ArtifactStorage,
    policy: WriterPolicy,
    *,
    write_behind: WriteBehind | None = None,
    task_status: trio.TaskStatus[ArtifactWriter] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Commit queued :class:`WriteBatch` values in group transactions and ack each one.

    Consumes ``inbox``; produces nothing but acks and rows. ``started()`` returns ``writer``
    (the submit side, built by the service so it survives restarts of this actor).

    **Resource handling:** uses ``storage``'s database (owned by the service); producers
    submit only once ``storage`` is ready, so its codec is there for every batch. Returns when
    the inbox is closed and drained: on shutdown the supervisor closes the inbox, and every
    batch queued by then is still committed (the supervisor's grace deadline bounds this).

    With ``write_behind`` (Redis configured), a group is "committed" once Redis holds it (the
    pending list and the read cache, one MULTI/EXEC) and the redis_flusher moves it to the
    database later. A Redis error, or the Redis breaker being open, sends the group straight
    to the database instead: the ack then waits for the database commit, as without Redis.

    **Error handling:** a failed commit (database down, constraint, encoding) acks every batch
    of that transaction with the error and the actor carries on: the producers skip their
    markers and count the failure against the user's breaker. A batch is never retried here,
    so an ack is never late. Errors outside a commit escape to the supervisor; batches taken
    from the inbox but not yet settled are failed first, so no producer waits on a dead ack.
    """
    task_status.started(writer)
    async with inbox:
        while True:
            group = await _next_group(inbox, policy)
            if not group:
                return
            try:
                await _commit(group, writer, storage, write_behind)
            finally:
                for batch in group:  # a cancelled commit (hard stop) must not strand a waiter
                    batch.ack.settle(error="the artifact writer stopped before committing")


async def _next_group(inbox: InboxReceiver[WriteBatch], policy: WriterPolicy) -> list[WriteBatch]:
    """The next batches to commit together; [] once the inbox is closed and empty."""
    try:
        group = [await inbox.receive()]
    except trio.EndOfChannel:
        return []
    rows = len(group[0].rows)
    if policy.max_delay_s > 0:
        with trio.move_on_after(policy.max_delay_s):
            while rows < policy.max_batch:
                try:
                    batch = await inbox.receive()
                except trio.EndOfChannel:
                    break
                group.append(batch)
                rows += len(batch.rows)
    while rows < policy.max_batch:
        try:
            batch = inbox.receive_nowait()
        except (trio.WouldBlock, trio.EndOfChannel):
            break
        group.append(batch)
        rows += len(batch.rows)
    return group


async def _commit(
    group: list[WriteBatch],
    writer: ArtifactWriter,
    storage: ArtifactStorage,
    write_behind: WriteBehind | None,
) -> None:
    rows = [row for batch in group for row in batch.rows]
    deletes = [(batch.owner, batch.delete) for batch in group if batch.delete]
    placements = [
        Placement(batch.owner, p.id, p.position, p.anchor)
        for batch in group
        for p in batch.placements
    ]
    try:
        codec = storage.require_codec()
        if write_behind is not None and write_behind.accepting():
            try:
                await write_behind.enqueue(codec, rows, placements=placements, deletes=deletes)
            except redis.RedisError:
                # Counted by the queue (and its breaker); the database takes the group now.
                logger.warning("Redis refused an artifact batch; writing it to the database")
            else:
                _acked(group, writer, len(rows))
                return
        await storage.database.run_sync(
            partial(_write_group, codec=codec, rows=rows, deletes=deletes, placements=placements)
        )
        if write_behind is not None:
            write_behind.direct_writes += 1
    except Exception as exc:
        writer.failed_commits += 1
        writer.last_error = f"{type(exc).__name__}: {str(exc)[:200]}"
        logger.warning(
            "artifact commit failed", extra={"batches": len(group), "error": writer.last_error}
        )
        for batch in group:
            batch.ack.settle(error=writer.last_error)
        return
    _acked(group, writer, len(rows))


def _acked(group: list[WriteBatch], writer: ArtifactWriter, rows: int) -> None:
    writer.commits += 1
    writer.rows_written += rows
    for batch in group:
        batch.ack.settle(error=None)


def _write_group(
    connection: sa.Connection,
    *,
    codec: PayloadCodec,
    rows: list[NewArtifact],
    deletes: list[tuple[str, tuple[str, ...]]],
    placements: list[Placement],
) -> None:
    apply_writes(
        connection,
        rows=encode_rows(codec, rows, time.time()),
        placements=placements,
        deletes=deletes,
    )
