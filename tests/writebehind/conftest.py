"""Fixtures for the write-behind: a real Redis (``REDIS_URL``) under a key prefix of this
test's own, a migrated SQLite database, a codec, and the write-behind queue on them.

Other engineers run the same tests against the same Redis at the same time: every test gets a
random prefix and deletes its keys afterwards.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path

import pytest
import redis

from pipe_service.config.redis import RedisSettings
from pipe_service.redis_link import RedisLink
from pipe_service.storage.bootstrap import ArtifactStorage
from pipe_service.storage.codec import PayloadCodec
from pipe_service.storage.engine import Database
from pipe_service.storage.keys import KeyRing
from pipe_service.storage.migrations import kdf_salt, upgrade
from pipe_service.writebehind.queue import WriteBehind, open_nudge_inbox

REDIS_URL = os.environ.get("REDIS_URL", "")
needs_redis = pytest.mark.skipif(
    not REDIS_URL,
    reason="REDIS_URL is not set (CI sets it; locally: REDIS_URL=redis://127.0.0.1:6379/0)",
)


def unique_prefix() -> str:
    return f"pipe-test-{secrets.token_hex(6)}"


def delete_prefix(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def prefix() -> Iterator[str]:
    if not REDIS_URL:
        pytest.skip(
            "REDIS_URL is not set (CI sets it; locally: REDIS_URL=redis://127.0.0.1:6379/0)"
        )
    name = unique_prefix()
    yield name
    delete_prefix(REDIS_URL, name)


@pytest.fixture
def link(prefix: str) -> Iterator[RedisLink]:
    opened = RedisLink.open(REDIS_URL, key_prefix=prefix, pool_size=4, op_timeout_s=5)
    yield opened
    opened.close()


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database.open(f"sqlite:///{tmp_path}/pipe-service.db", pool_size=2)
    try:
        await db.run_sync(partial(upgrade, at_start=True))
        yield db
    finally:
        db.dispose()


@pytest.fixture
async def storage(database: Database) -> ArtifactStorage:
    salt = await database.run_sync(kdf_salt)
    return ArtifactStorage(database, PayloadCodec(KeyRing.derive(["fleet key"], salt=salt)))


def make_behind(link: RedisLink, **settings: object) -> WriteBehind:
    return WriteBehind(
        link,
        RedisSettings.model_validate(settings),
        flusher_id=f"f-{secrets.token_hex(4)}",
        nudges=open_nudge_inbox(),
    )


@pytest.fixture
def behind(link: RedisLink) -> WriteBehind:
    return make_behind(link)
