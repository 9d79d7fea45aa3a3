"""Schema versions and the in-place upgrade path (``pipe-service db upgrade``).

The version lives in ``pipe_meta`` (``schema_version``). Each :class:`Migration` moves the
schema one version up inside the caller's transaction; on PostgreSQL an advisory lock serialises
sidecars starting together. At start-up the service applies pending migrations marked
``safe_at_start`` (additive: new tables, columns, indexes) and refuses to start when one is
not, or when the database is newer than this code, with a message saying what to run.

The key-derivation salt is created here too (once per database, random), so every sidecar on
one database derives the same keys from the same secrets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import sqlalchemy as sa

from pipe_service.storage import schema
from pipe_service.storage.keys import new_salt

logger = logging.getLogger("pipe_service.storage.migrations")

SCHEMA_VERSION_KEY: Final = "schema_version"
KDF_SALT_KEY: Final = "kdf_salt"
_PG_LOCK_ID: Final = 0x70697065  # "pipe": one advisory lock for every sidecar's migrations


class SchemaError(Exception):
    """The database schema cannot be used by this code; the message says what to do."""


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[sa.Connection], None]
    safe_at_start: bool = True


def _create_v1(connection: sa.Connection) -> None:
    schema.artifacts.create(connection, checkfirst=True)


MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(1, "artifacts table with owner, chat, position, anchor, retention", _create_v1),
)
CODE_VERSION: Final = MIGRATIONS[-1].version


def current_version(connection: sa.Connection) -> int:
    """The database's schema version (0: never migrated)."""
    if not sa.inspect(connection).has_table(schema.META_TABLE):
        return 0
    value = connection.execute(
        sa.select(schema.meta.c.value).where(schema.meta.c.name == SCHEMA_VERSION_KEY)
    ).scalar_one_or_none()
    return int(value) if value is not None else 0


def pending(connection: sa.Connection) -> list[Migration]:
    version = current_version(connection)
    if version > CODE_VERSION:
        raise SchemaError(
            f"the database schema is version {version}, newer than this pipe-service "
            f"(version {CODE_VERSION}): upgrade pipe-service, or point it at another database"
        )
    return [migration for migration in MIGRATIONS if migration.version > version]


def upgrade(connection: sa.Connection, *, at_start: bool) -> list[Migration]:
    """Apply pending migrations in order; return the ones applied.

    ``at_start``: refuse (``SchemaError``) when a pending migration is not safe at start-up.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
    schema.meta.create(connection, checkfirst=True)
    todo = pending(connection)
    unsafe = [m for m in todo if not m.safe_at_start]
    if at_start and unsafe:
        raise SchemaError(
            f"the database needs schema migration {unsafe[0].version} "
            f"({unsafe[0].description}), which is not run automatically: stop every sidecar "
            "on this database and run `pipe-service db upgrade`"
        )
    for migration in todo:
        migration.apply(connection)
        _set_meta(connection, SCHEMA_VERSION_KEY, str(migration.version))
        logger.info(
            "database schema upgraded to version %d: %s", migration.version, migration.description
        )
    _ensure_salt(connection)
    return todo


def kdf_salt(connection: sa.Connection) -> bytes:
    value = connection.execute(
        sa.select(schema.meta.c.value).where(schema.meta.c.name == KDF_SALT_KEY)
    ).scalar_one_or_none()
    if value is None:
        raise SchemaError("the database has no key-derivation salt: run `pipe-service db upgrade`")
    return bytes.fromhex(value)


def _ensure_salt(connection: sa.Connection) -> None:
    exists = connection.execute(
        sa.select(schema.meta.c.name).where(schema.meta.c.name == KDF_SALT_KEY)
    ).first()
    if exists is None:
        _set_meta(connection, KDF_SALT_KEY, new_salt().hex())


def _set_meta(connection: sa.Connection, name: str, value: str) -> None:
    updated = connection.execute(
        sa.update(schema.meta).where(schema.meta.c.name == name).values(value=value)
    )
    if updated.rowcount == 0:
        connection.execute(sa.insert(schema.meta).values(name=name, value=value))
