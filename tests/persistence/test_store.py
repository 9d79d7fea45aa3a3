"""The artifact store on real SQLite and PostgreSQL: migrations, idempotent upserts, owned
batched reads, key rotation over mixed old/new rows, deletion by age."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import pytest
import sqlalchemy as sa

from pipe_service.config.persistence import PersistenceSettings
from pipe_service.storage.artifact_store import (
    NewArtifact,
    count_artifacts,
    delete_not_accessed_since,
    insert_artifacts,
    load_for_replay,
    read_artifact,
)
from pipe_service.storage.bootstrap import prepare_artifact_storage
from pipe_service.storage.codec import ArtifactKeyError, PayloadCodec
from pipe_service.storage.engine import Database
from pipe_service.storage.ids import UlidGenerator
from pipe_service.storage.keys import KeyRing
from pipe_service.storage.migrations import (
    CODE_VERSION,
    SCHEMA_VERSION_KEY,
    SchemaError,
    current_version,
    kdf_salt,
    upgrade,
)
from pipe_service.storage.rotation import count_to_rotate, rotate_in_batches
from pipe_service.storage.schema import meta

IDS = UlidGenerator()


async def ring_codec(database: Database, *secrets: str) -> PayloadCodec:
    salt = await database.run_sync(kdf_salt)
    return PayloadCodec(KeyRing.derive(list(secrets), salt=salt))


def artifact(owner: str = "user:u1", chat: str = "c1", **item: object) -> NewArtifact:
    body = {"type": "function_call_output", "call_id": "call_1", "output": "sunny"} | item
    return NewArtifact(
        id=IDS.new(),
        owner=owner,
        chat_id=chat,
        message_id="m1",
        model="sim/text",
        item=body,
        position=0,
    )


async def test_a_fresh_database_is_migrated_to_the_code_version(database: Database) -> None:
    assert await database.run_sync(current_version) == CODE_VERSION
    again = await database.run_sync(partial(upgrade, at_start=True))
    assert again == []


async def test_a_database_newer_than_the_code_is_refused(database: Database) -> None:
    await database.run_sync(
        lambda conn: conn.execute(
            sa.update(meta).where(meta.c.name == SCHEMA_VERSION_KEY).values(value="999")
        )
    )
    with pytest.raises(SchemaError, match="newer than this pipe-service"):
        await database.run_sync(partial(upgrade, at_start=True))


async def test_storing_the_same_batch_twice_stores_it_once(database: Database) -> None:
    codec = await ring_codec(database, "k")
    rows = [artifact(), artifact()]
    first = await database.run_sync(partial(insert_artifacts, codec=codec, rows=rows, now=1.0))
    second = await database.run_sync(partial(insert_artifacts, codec=codec, rows=rows, now=2.0))
    assert (first, second) == (2, 0)
    assert await database.run_sync(count_artifacts) == 2


async def test_replay_reads_only_the_owners_artifacts_of_that_chat(database: Database) -> None:
    codec = await ring_codec(database, "k")
    mine, other_user, other_chat = artifact(), artifact(owner="user:u2"), artifact(chat="c2")
    await database.run_sync(
        partial(insert_artifacts, codec=codec, rows=[mine, other_user, other_chat], now=1.0)
    )
    ids = [mine.id, other_user.id, other_chat.id, IDS.new()]
    found = await database.run_sync(
        partial(load_for_replay, codec=codec, ids=ids, owner="user:u1", chat_id="c1", now=5.0)
    )
    assert list(found.owned) == [mine.id]
    assert found.owned[mine.id].item == mine.item
    assert sorted(found.foreign) == sorted([other_user.id, other_chat.id])
    assert found.missing == [ids[3]]


async def test_an_artifact_under_a_lost_key_is_reported_unreadable(database: Database) -> None:
    row = artifact()
    await database.run_sync(
        partial(insert_artifacts, codec=await ring_codec(database, "lost"), rows=[row], now=1.0)
    )
    found = await database.run_sync(
        partial(
            load_for_replay,
            codec=await ring_codec(database, "other"),
            ids=[row.id],
            owner="user:u1",
            chat_id="c1",
            now=2.0,
        )
    )
    assert found.owned == {}
    assert "previous_keys" in found.unreadable[row.id]


async def test_rotation_reencrypts_old_rows_and_leaves_new_ones(database: Database) -> None:
    old_codec = await ring_codec(database, "old")
    old_rows = [artifact(output=f"old {n}") for n in range(5)]
    await database.run_sync(partial(insert_artifacts, codec=old_codec, rows=old_rows, now=1.0))
    ring = await ring_codec(database, "new", "old")
    new_rows = [artifact(output=f"new {n}") for n in range(3)]
    await database.run_sync(partial(insert_artifacts, codec=ring, rows=new_rows, now=2.0))
    assert ring.current_key_id is not None
    assert (
        await database.run_sync(partial(count_to_rotate, current_key_id=ring.current_key_id)) == 5
    )

    progress = [done async for done in rotate_in_batches(database, ring, batch_size=2)]

    assert progress == [2, 4, 5]
    new_only = await ring_codec(database, "new")
    for row in [*old_rows, *new_rows]:
        item = await database.run_sync(partial(read_artifact, codec=new_only, artifact_id=row.id))
        assert item == row.item
    with pytest.raises(ArtifactKeyError):
        await database.run_sync(partial(read_artifact, codec=old_codec, artifact_id=old_rows[0].id))


async def test_rotation_stops_with_the_row_id_when_a_key_is_missing(database: Database) -> None:
    row = artifact()
    await database.run_sync(
        partial(insert_artifacts, codec=await ring_codec(database, "gone"), rows=[row], now=1.0)
    )
    ring = await ring_codec(database, "new")
    with pytest.raises(ArtifactKeyError, match=row.id):
        async for _ in rotate_in_batches(database, ring, batch_size=10):
            pass


async def test_rows_not_accessed_since_the_cutoff_are_deleted(database: Database) -> None:
    codec = await ring_codec(database, "k")
    old, fresh = artifact(), artifact()
    await database.run_sync(partial(insert_artifacts, codec=codec, rows=[old], now=100.0))
    await database.run_sync(partial(insert_artifacts, codec=codec, rows=[fresh], now=300.0))
    deleted = await database.run_sync(partial(delete_not_accessed_since, cutoff=200.0, limit=10))
    assert deleted == 1
    assert await database.run_sync(partial(read_artifact, codec=codec, artifact_id=old.id)) is None


async def test_a_replay_refreshes_last_access(database: Database) -> None:
    codec = await ring_codec(database, "k")
    row = artifact()
    await database.run_sync(partial(insert_artifacts, codec=codec, rows=[row], now=100.0))
    await database.run_sync(
        partial(
            load_for_replay, codec=codec, ids=[row.id], owner="user:u1", chat_id="c1", now=500.0
        )
    )
    assert await database.run_sync(partial(delete_not_accessed_since, cutoff=200.0, limit=10)) == 0


async def test_bootstrap_creates_the_key_file_and_a_working_codec(tmp_path: Path) -> None:
    database = Database.open(f"sqlite:///{tmp_path}/boot.db", pool_size=1)
    try:
        codec = await prepare_artifact_storage(database, PersistenceSettings(), tmp_path)
        assert (tmp_path / "artifact-keys").exists()
        blob = codec.encode({"a": 1}, encrypt=True)
        again = await prepare_artifact_storage(database, PersistenceSettings(), tmp_path)
        assert again.decode(blob) == {"a": 1}
    finally:
        database.dispose()


async def test_bootstrap_refuses_a_stale_schema_when_migration_at_start_is_off(
    tmp_path: Path,
) -> None:
    database = Database.open(f"sqlite:///{tmp_path}/stale.db", pool_size=1)
    try:
        with pytest.raises(SchemaError, match="pipe-service db upgrade"):
            await prepare_artifact_storage(
                database, PersistenceSettings(migrate_at_start=False), tmp_path
            )
    finally:
        database.dispose()


async def test_a_lost_key_file_is_reported_once_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = Database.open(f"sqlite:///{tmp_path}/lost.db", pool_size=1)
    try:
        codec = await prepare_artifact_storage(database, PersistenceSettings(), tmp_path)
        await database.run_sync(
            partial(insert_artifacts, codec=codec, rows=[artifact(), artifact()], now=1.0)
        )
        (tmp_path / "artifact-keys").unlink()  # the backup was never made
        with caplog.at_level(logging.ERROR, logger="pipe_service.storage.bootstrap"):
            await prepare_artifact_storage(database, PersistenceSettings(), tmp_path)
    finally:
        database.dispose()
    [record] = [r for r in caplog.records if "not in the key ring" in r.getMessage()]
    assert record.rows == 2  # type: ignore[attr-defined]
    assert record.key_ids == [codec.current_key_id]  # type: ignore[attr-defined]
