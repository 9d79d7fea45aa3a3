"""The SQL engine: SQLite (WAL) by default, PostgreSQL through psycopg 3, used from worker threads.

SQLAlchemy has no trio-native async path (its asyncio layer and every async driver need an
asyncio loop), so the sync engine runs in ``trio.to_thread`` behind a CapacityLimiter sized to the
connection pool: a burst of work queues on the limiter instead of exhausting the pool.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
import trio
from sqlalchemy.engine import Engine, make_url

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 5000


def normalize_database_url(url: str) -> str:
    """Pick the psycopg 3 driver for plain PostgreSQL URLs (the only one that works on trio)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def redact_database_url(url: str) -> str:
    """The URL with any password replaced, for logs and ``/status``."""
    return make_url(url).render_as_string(hide_password=True)


def create_database_engine(url: str, *, pool_size: int) -> Engine:
    """Create the engine; SQLite files get WAL, NORMAL sync and a busy timeout on every connect."""
    url = normalize_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, pool_size=pool_size, max_overflow=0)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_size=pool_size, max_overflow=0, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


class Database:
    """An engine plus the thread limiter that guards it.

    Synopsis::

        db = Database.open(settings.effective_database_url, pool_size=5)
        await db.ping()
        rows = await db.run_sync(lambda conn: conn.execute(query).all())
        db.dispose()
    """

    def __init__(self, engine: Engine, *, pool_size: int) -> None:
        self.engine = engine
        self._limiter = trio.CapacityLimiter(pool_size)

    @classmethod
    def open(cls, url: str, *, pool_size: int) -> Database:
        return cls(create_database_engine(url, pool_size=pool_size), pool_size=pool_size)

    @property
    def backend(self) -> str:
        return self.engine.url.get_backend_name()

    @property
    def redacted_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    async def run_sync(self, fn: Callable[[sa.Connection], T]) -> T:
        """Run ``fn(connection)`` in a worker thread inside one transaction."""

        def _in_transaction() -> T:
            with self.engine.begin() as connection:
                return fn(connection)

        return await trio.to_thread.run_sync(_in_transaction, limiter=self._limiter)

    async def ping(self) -> None:
        """Raise if the database cannot answer ``SELECT 1``."""
        await self.run_sync(_select_one)

    def dispose(self) -> None:
        self.engine.dispose()


def _select_one(connection: sa.Connection) -> Any:
    return connection.execute(sa.text("SELECT 1")).scalar_one()
