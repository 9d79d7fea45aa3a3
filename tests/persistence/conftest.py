"""Fixtures: a migrated database per backend, a codec on it, and a running db_writer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest
import trio

from pipe_service.persistence import db_writer
from pipe_service.persistence.db_writer import ArtifactWriter, WriterPolicy, open_writer_inbox
from pipe_service.storage.bootstrap import ArtifactStorage
from pipe_service.storage.codec import PayloadCodec
from pipe_service.storage.engine import Database
from pipe_service.storage.keys import KeyRing
from pipe_service.storage.migrations import kdf_salt, upgrade
from tests.persistence.databases import BACKENDS, database_url


@pytest.fixture(params=BACKENDS)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    with database_url(request.param, tmp_path) as url:
        db = Database.open(url, pool_size=2)
        try:
            await db.run_sync(partial(upgrade, at_start=True))
            yield db
        finally:
            db.dispose()


@pytest.fixture
async def codec(database: Database) -> PayloadCodec:
    salt = await database.run_sync(kdf_salt)
    return PayloadCodec(KeyRing.derive(["test key"], salt=salt))


async def start_writer(
    nursery: trio.Nursery,
    database: Database,
    codec: PayloadCodec,
    *,
    inbox_size: int = 8,
    policy: WriterPolicy | None = None,
) -> ArtifactWriter:
    inbox = open_writer_inbox(inbox_size)
    writer = ArtifactWriter(inbox)
    started: ArtifactWriter = await nursery.start(
        partial(
            db_writer.run,
            inbox.receiver(),
            writer,
            ArtifactStorage(database, codec),
            policy or WriterPolicy(),
        )
    )
    return started
