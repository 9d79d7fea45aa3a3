"""Make a database ready for artifacts: migrate the schema, load the salt, build the key ring.

Synopsis::

    codec = await prepare_artifact_storage(database, settings.persistence, settings.var_dir)
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import sqlalchemy as sa
import trio

from pipe_service.persistence.settings import PersistenceSettings
from pipe_service.storage.codec import PayloadCodec
from pipe_service.storage.engine import Database
from pipe_service.storage.keys import KeyRing, collect_secrets
from pipe_service.storage.migrations import SchemaError, kdf_salt, pending, upgrade

logger = logging.getLogger("pipe_service.storage.bootstrap")


def _migrate_or_check(connection: sa.Connection, *, migrate: bool) -> bytes:
    if migrate:
        upgrade(connection, at_start=True)
    else:
        todo = pending(connection)
        if todo:
            raise SchemaError(
                f"the database schema is behind (migration {todo[0].version}: "
                f"{todo[0].description}) and persistence.migrate_at_start is false: run "
                "`pipe-service db upgrade`"
            )
    return kdf_salt(connection)


async def prepare_artifact_storage(
    database: Database, settings: PersistenceSettings, var_dir: Path, *, create_key: bool = True
) -> PayloadCodec:
    """Migrate (when allowed) and return the codec with the configured key ring.

    Raises :class:`SchemaError` or :class:`~pipe_service.storage.keys.KeyConfigError` with an
    operator-facing message.
    """
    salt = await database.run_sync(partial(_migrate_or_check, migrate=settings.migrate_at_start))
    return await codec_for(settings, var_dir, salt=salt, create_key=create_key)


async def codec_for(
    settings: PersistenceSettings, var_dir: Path, *, salt: bytes, create_key: bool
) -> PayloadCodec:
    configured = settings.encryption_key.get_secret_value() if settings.encryption_key else None
    previous = [key.get_secret_value() for key in settings.previous_keys]
    secrets = collect_secrets(configured, previous, var_dir, create=create_key)
    if not secrets:
        return PayloadCodec(None)
    # scrypt costs tens of milliseconds per key: keep it off the trio thread.
    ring = await trio.to_thread.run_sync(partial(KeyRing.derive, secrets, salt=salt))
    logger.info(
        "artifact key ring ready", extra={"keys": len(ring.ids), "current": ring.current_id}
    )
    return PayloadCodec(ring)
