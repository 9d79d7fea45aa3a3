"""Real databases for persistence tests: a fresh SQLite file, and a PostgreSQL schema of this
test's own (dropped afterwards) when ``DATABASE_URL`` points at PostgreSQL.

Other engineers run the same tests at the same time on the same server, so every PostgreSQL
test gets a random schema name and reaches it through ``search_path``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from pipe_service.storage.engine import normalize_database_url

POSTGRES_URL = os.environ.get("DATABASE_URL", "")
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(
                not POSTGRES_URL.startswith("postgres"),
                reason="DATABASE_URL is not a PostgreSQL URL (CI sets it; locally: "
                "DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test)",
            ),
        ],
    ),
]


@contextmanager
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database of ``backend``; PostgreSQL schemas are dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path}/pipe-service.db"
        return
    schema = f"pipe_test_{secrets.token_hex(6)}"
    admin = sa.create_engine(normalize_database_url(POSTGRES_URL))
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
