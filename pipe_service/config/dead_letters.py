"""The ``[dead_letters]`` settings section: where undeliverable artifacts wait, and for how long."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_FILE = "dead-letters.sqlite3"


class DeadLetterSettings(BaseModel):
    """Artifacts the service could not persist, kept with their reason for `pipe-service dlq`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the dead-letter table. Default: a SQLite file "
        "`<var_dir>/dead-letters.sqlite3`, which stays writable while the artifact database "
        "is down. Sidecars sharing Redis may point this at a shared PostgreSQL.",
    )
    flush_attempts: int = Field(
        30,
        ge=0,
        le=100_000,
        description="Failed flush rounds in a row (database unreachable) after which the Redis "
        "flusher moves the batch it holds to the dead letters instead of retrying it forever "
        "(30 ≈ 25 minutes with the default flush backoff); 0 = never (entries wait in Redis "
        "until the database is back).",
    )
    retention_days: float = Field(
        30.0,
        ge=0,
        le=3650,
        description="Dead letters older than this (since their first failure) are deleted by "
        "the cleanup; 0 keeps them until purged.",
    )
    max_letters: int = Field(
        100_000,
        ge=1,
        le=100_000_000,
        description="Upper bound of the table: the cleanup deletes the oldest letters beyond it.",
    )
    cleanup_interval_s: float = Field(
        3600.0, ge=1, le=86400 * 7, description="How often old dead letters are deleted."
    )

    def url_for(self, var_dir: Path) -> str:
        if self.database_url is not None:
            return self.database_url
        return f"sqlite:///{var_dir / DEFAULT_FILE}"
