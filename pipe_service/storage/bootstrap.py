"""Make a database ready for artifacts: migrate the schema, load the salt, build the key ring.

:func:`prepare_artifact_storage` does it once; the bootstrap actor :func:`run` does it at start
and keeps retrying while the database is unreachable.

Synopsis::

    codec = await prepare_artifact_storage(database, settings.persistence, settings.var_dir)
    storage = await supervisor.start(ActorSpec("storage", partial(run, ArtifactStorage(db),
                                               settings.persistence, var_dir, BootstrapPolicy())))
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NoReturn

import sqlalchemy as sa
import trio
from sqlalchemy.exc import SQLAlchemyError

from pipe_service.config.persistence import PersistenceSettings
from pipe_service.storage.codec import PayloadCodec
from pipe_service.storage.engine import Database
from pipe_service.storage.keys import KeyRing, collect_secrets
from pipe_service.storage.migrations import SchemaError, kdf_salt, pending, upgrade
from pipe_service.storage.schema import artifacts

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
    codec = await codec_for(settings, var_dir, salt=salt, create_key=create_key)
    foreign = await database.run_sync(partial(rows_by_foreign_key, codec=codec))
    if foreign:
        # A lost key file (a new key was generated) or a key change without previous_keys:
        # say so loudly once, instead of one "unreadable" line per replay.
        logger.error(
            "stored artifacts are encrypted with keys not in the key ring; they cannot be "
            "replayed until the old secret is added to persistence.previous_keys",
            extra={"rows": sum(foreign.values()), "key_ids": sorted(foreign)[:10]},
        )
    return codec


def rows_by_foreign_key(connection: sa.Connection, *, codec: PayloadCodec) -> dict[str, int]:
    """Encrypted rows per key id that the codec's key ring does not hold."""
    known = codec.keyring.ids if codec.keyring is not None else ()
    counts = connection.execute(
        sa.select(artifacts.c.key_id, sa.func.count())
        .where(artifacts.c.key_id.is_not(None))
        .group_by(artifacts.c.key_id)
    ).all()
    return {key_id: count for key_id, count in counts if key_id not in known}


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


@dataclass
class ArtifactStorage:
    """The database plus, once the schema and keys are ready, the codec.

    A sidecar whose database is down at start still serves chats: until :attr:`ready`, turns
    store and replay nothing (and say so), and the bootstrap actor keeps trying.
    """

    database: Database
    codec: PayloadCodec | None = None
    last_error: str | None = None

    @property
    def ready(self) -> bool:
        return self.codec is not None

    def require_codec(self) -> PayloadCodec:
        if self.codec is None:
            raise RuntimeError("artifact storage is not ready")
        return self.codec


@dataclass(frozen=True)
class BootstrapPolicy:
    attempt_limit_s: float = 10.0
    retry_initial_s: float = 1.0
    retry_max_s: float = 60.0


async def run(
    storage: ArtifactStorage,
    settings: PersistenceSettings,
    var_dir: Path,
    policy: BootstrapPolicy,
    *,
    task_status: trio.TaskStatus[ArtifactStorage] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """Make ``storage`` ready: migrate the schema, load the salt, build the key ring.

    Consumes nothing; ``started()`` returns ``storage`` after the first attempt, ready or not,
    so a database that is down at start delays start-up by at most ``attempt_limit_s``.
    Later attempts back off from ``retry_initial_s`` to ``retry_max_s``.

    **Resource handling:** uses the service's database; owns nothing.

    **Error handling:** an unreachable database (any ``SQLAlchemyError``, or no answer within
    ``attempt_limit_s``) is retried. A schema this code cannot use or unusable keys
    (:class:`SchemaError`, :class:`KeyConfigError`) raise: before ``started()`` the service
    refuses to start with that message; later they stop it, since retrying cannot fix them.
    """
    delay = policy.retry_initial_s
    await _attempt(storage, settings, var_dir, policy)
    task_status.started(storage)
    while not storage.ready:
        await trio.sleep(delay)
        delay = min(delay * 2, policy.retry_max_s)
        await _attempt(storage, settings, var_dir, policy)
    await trio.sleep_forever()
    raise AssertionError("unreachable")


async def _attempt(
    storage: ArtifactStorage, settings: PersistenceSettings, var_dir: Path, policy: BootstrapPolicy
) -> None:
    with trio.move_on_after(policy.attempt_limit_s):
        try:
            storage.codec = await prepare_artifact_storage(storage.database, settings, var_dir)
        except SQLAlchemyError as exc:
            storage.last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            logger.warning(
                "artifact storage not ready; retrying", extra={"error": storage.last_error}
            )
            return
        storage.last_error = None
        logger.info("artifact storage ready")
        return
    storage.last_error = f"the database did not answer within {policy.attempt_limit_s:g} s"
    logger.warning("artifact storage not ready; retrying", extra={"error": storage.last_error})
