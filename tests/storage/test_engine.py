"""The SQL engine on SQLite (always) and PostgreSQL (when DATABASE_URL is set, as in CI)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from pipe_service.storage.engine import (
    Database,
    normalize_database_url,
    redact_database_url,
)

POSTGRES_URL = os.environ.get("DATABASE_URL", "")
needs_postgres = pytest.mark.skipif(
    not POSTGRES_URL.startswith("postgres"),
    reason="DATABASE_URL is not a PostgreSQL URL (CI sets it; locally: "
    "DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test)",
)


async def test_sqlite_database_is_created_with_wal_and_answers_ping(tmp_path: Path) -> None:
    database = Database.open(f"sqlite:///{tmp_path}/sub/dir/pipe.db", pool_size=2)
    try:
        await database.ping()
        mode = await database.run_sync(
            lambda conn: conn.exec_driver_sql("PRAGMA journal_mode").scalar_one()
        )
        sync = await database.run_sync(
            lambda conn: conn.exec_driver_sql("PRAGMA synchronous").scalar_one()
        )
    finally:
        database.dispose()
    assert mode == "wal"
    assert sync == 1  # NORMAL
    assert (tmp_path / "sub" / "dir" / "pipe.db").exists()
    assert database.backend == "sqlite"


async def test_run_sync_commits_its_transaction(tmp_path: Path) -> None:
    database = Database.open(f"sqlite:///{tmp_path}/pipe.db", pool_size=1)
    try:
        await database.run_sync(lambda conn: conn.exec_driver_sql("CREATE TABLE t (x INTEGER)"))
        await database.run_sync(lambda conn: conn.exec_driver_sql("INSERT INTO t VALUES (7)"))
        value = await database.run_sync(
            lambda conn: conn.execute(sa.text("SELECT x FROM t")).scalar_one()
        )
    finally:
        database.dispose()
    assert value == 7


def test_plain_postgres_urls_use_the_psycopg3_driver() -> None:
    assert normalize_database_url("postgresql://u:p@h/db").startswith("postgresql+psycopg://")
    assert normalize_database_url("postgres://u@h/db").startswith("postgresql+psycopg://")
    assert normalize_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_redacted_urls_hide_the_password() -> None:
    assert "secret" not in redact_database_url("postgresql://user:secret@db.example/app")
    assert "***" in redact_database_url("postgresql://user:secret@db.example/app")


@needs_postgres
async def test_postgresql_answers_ping_through_psycopg3() -> None:
    database = Database.open(POSTGRES_URL, pool_size=2)
    try:
        await database.ping()
        version = await database.run_sync(
            lambda conn: conn.execute(sa.text("SHOW server_version")).scalar_one()
        )
    finally:
        database.dispose()
    assert database.backend == "postgresql"
    assert str(version)[0].isdigit()


async def test_an_unreachable_database_fails_ping_with_a_driver_error() -> None:
    database = Database.open("postgresql://postgres@127.0.0.1:1/test", pool_size=1)
    try:
        with pytest.raises(sa.exc.OperationalError):
            await database.ping()
    finally:
        database.dispose()
