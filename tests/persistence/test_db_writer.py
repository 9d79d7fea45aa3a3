"""The db_writer actor on real databases: acks after commit, group commits, idempotent
re-delivery, failures acked (not raised), and a full drain when its inbox closes."""

from __future__ import annotations

from functools import partial

import pytest
import sqlalchemy as sa
import trio
import trio.testing

from pipe_service.persistence import db_writer
from pipe_service.persistence.db_writer import ArtifactWriter, WriterClosedError, open_writer_inbox
from pipe_service.storage.artifact_store import NewArtifact, count_artifacts, read_artifact
from pipe_service.storage.bootstrap import ArtifactStorage
from pipe_service.storage.codec import PayloadCodec
from pipe_service.storage.engine import Database
from pipe_service.storage.ids import UlidGenerator
from tests.persistence.conftest import start_writer

IDS = UlidGenerator()


def row(n: int = 0) -> NewArtifact:
    return NewArtifact(
        id=IDS.new(),
        owner="user:u1",
        chat_id="c1",
        message_id="m1",
        model="sim/text",
        item={"type": "function_call_output", "call_id": f"c{n}", "output": f"result {n}"},
        position=n,
    )


async def test_an_ack_is_ok_only_once_the_rows_are_readable(
    nursery: trio.Nursery, database: Database, codec: PayloadCodec
) -> None:
    writer = await start_writer(nursery, database, codec)
    rows = [row(1), row(2)]
    ack = await writer.submit(rows, owner="user:u1")
    await ack.wait()
    assert ack.ok
    assert ack.error is None
    for stored in rows:
        item = await database.run_sync(partial(read_artifact, codec=codec, artifact_id=stored.id))
        assert item == stored.item


async def test_batches_queued_during_a_commit_share_the_next_transaction(
    nursery: trio.Nursery, database: Database, codec: PayloadCodec
) -> None:
    writer = await start_writer(nursery, database, codec, inbox_size=32)
    acks = [await writer.submit([row(n)], owner="user:u1") for n in range(20)]
    for ack in acks:
        await ack.wait()
    assert all(ack.ok for ack in acks)
    assert writer.statistics().rows_written == 20
    assert writer.statistics().commits < 20


async def test_a_redelivered_batch_does_not_duplicate_rows(
    nursery: trio.Nursery, database: Database, codec: PayloadCodec
) -> None:
    writer = await start_writer(nursery, database, codec)
    rows = [row(1)]
    for _ in range(2):
        ack = await writer.submit(rows, owner="user:u1")
        await ack.wait()
        assert ack.ok
    assert await database.run_sync(count_artifacts) == 1


async def test_a_failed_commit_is_acked_with_the_error_and_the_writer_carries_on(
    nursery: trio.Nursery, database: Database, codec: PayloadCodec
) -> None:
    writer = await start_writer(nursery, database, codec)
    await database.run_sync(
        lambda conn: conn.execute(sa.text("ALTER TABLE pipe_artifacts RENAME TO gone"))
    )
    ack = await writer.submit([row(1)], owner="user:u1")
    await ack.wait()
    assert not ack.ok
    assert ack.error
    await database.run_sync(
        lambda conn: conn.execute(sa.text("ALTER TABLE gone RENAME TO pipe_artifacts"))
    )
    ack = await writer.submit([row(2)], owner="user:u1")
    await ack.wait()
    assert ack.ok
    assert writer.statistics().failed_commits == 1


async def test_closing_the_inbox_drains_every_queued_batch(
    database: Database, codec: PayloadCodec
) -> None:
    inbox = open_writer_inbox(64)
    writer = ArtifactWriter(inbox)
    acks = [await writer.submit([row(n)], owner="user:u1") for n in range(40)]
    inbox.close_senders()
    with trio.fail_after(30):
        await db_writer.run(
            inbox.receiver(), writer, ArtifactStorage(database, codec), db_writer.WriterPolicy(4)
        )
    assert all(ack.ok for ack in acks)
    assert await database.run_sync(count_artifacts) == 40


async def test_submitting_after_shutdown_says_the_writer_is_closed(
    database: Database, codec: PayloadCodec
) -> None:
    inbox = open_writer_inbox(4)
    inbox.close_senders()
    writer = ArtifactWriter(inbox)
    with pytest.raises(WriterClosedError, match="shut down"):
        await writer.submit([row()], owner="user:u1")


async def test_a_full_inbox_blocks_the_producer_instead_of_dropping(
    autojump_clock: trio.testing.MockClock,
) -> None:
    inbox = open_writer_inbox(1)
    writer = ArtifactWriter(inbox)
    await writer.submit([row(1)], owner="user:u1")
    with trio.move_on_after(10) as blocked:
        await writer.submit([row(2)], owner="user:u1")
    assert blocked.cancelled_caught
    assert trio.current_time() == 10
    assert inbox.statistics().dropped == 0


async def test_with_a_delay_the_writer_waits_for_more_batches_until_the_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    inbox = open_writer_inbox(8)
    writer = ArtifactWriter(inbox)
    receiver = inbox.receiver()
    await writer.submit([row(1)], owner="user:u1")
    group = await db_writer._next_group(
        receiver, db_writer.WriterPolicy(max_batch=10, max_delay_s=1)
    )
    assert len(group) == 1
    assert trio.current_time() == 1  # waited the whole delay for company


async def test_with_a_delay_a_full_batch_is_committed_without_waiting(
    autojump_clock: trio.testing.MockClock,
) -> None:
    inbox = open_writer_inbox(8)
    writer = ArtifactWriter(inbox)
    receiver = inbox.receiver()
    for n in range(3):
        await writer.submit([row(n), row(n)], owner="user:u1")
    group = await db_writer._next_group(
        receiver, db_writer.WriterPolicy(max_batch=4, max_delay_s=1)
    )
    assert [len(batch.rows) for batch in group] == [2, 2]  # max_batch rows reached
    assert trio.current_time() == 0
