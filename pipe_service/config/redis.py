"""The ``[redis]`` settings section: write-behind of artifacts, the shared catalog refresh and
cost snapshots. Used only when ``redis_url`` (``REDIS_URL``) is set."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class RedisSettings(BaseModel):
    """Redis as the fleet's shared state (only when ``redis_url`` is set)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    write_behind: bool = Field(
        True,
        description="Acknowledge artifacts once Redis has them and flush them to the database "
        "in batches (the redis_flusher actor); false: write to the database directly.",
    )
    key_prefix: str = Field(
        "pipe-service",
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="Prefix of every Redis key; sidecars of one fleet must share it, and "
        "fleets sharing one Redis must not.",
    )
    cache_ttl_s: int = Field(
        600,
        ge=60,
        le=3600,
        description="How long a written artifact stays in the Redis read cache (replay reads "
        "the cache first, then the database).",
    )
    flush_interval_s: float = Field(
        2.0,
        gt=0,
        le=300,
        description="The flusher drains the pending list to the database this often (and "
        "earlier when `flush_nudge_entries` are pending).",
    )
    flush_batch: int = Field(
        200, ge=1, le=10_000, description="Pending entries (turn batches) per database commit."
    )
    flush_nudge_entries: int = Field(
        50,
        ge=1,
        le=100_000,
        description="A pending list this long starts a flush before the interval is up.",
    )
    pending_warn_threshold: int = Field(
        1000,
        ge=1,
        le=1_000_000,
        description="Above this many pending entries `/status` shows a warning and the log "
        "says so once (the database is not keeping up, or is down).",
    )
    flush_failure_limit: int = Field(
        5,
        ge=1,
        le=50,
        description="Consecutive failed flushes before a CRITICAL log line (the entries stay "
        "in Redis and are retried with backoff).",
    )
    flush_backoff_max_s: float = Field(
        60.0, gt=0, le=600, description="Upper bound of the retry delay after failed flushes."
    )
    lock_ttl_s: float = Field(
        15.0,
        ge=1,
        le=600,
        description="Lifetime of the flush lock and of a flusher's liveness key; a flusher "
        "killed mid-flush has its claimed entries re-queued by another after this long.",
    )
    breaker_failures: int = Field(
        3,
        ge=1,
        le=1000,
        description="Redis errors within `breaker_window_s` that send writes straight to "
        "the database until the window passes.",
    )
    breaker_window_s: float = Field(
        30.0, gt=0, le=3600, description="Redis breaker window (then one write tries Redis)."
    )
    operation_timeout_s: float = Field(
        2.0,
        gt=0,
        le=60,
        description="Socket timeout of one Redis command; past it the write falls back to "
        "the database.",
    )
    pool_size: int = Field(
        8, ge=1, le=256, description="Redis connections (and worker threads) per process."
    )
    shared_catalog: bool = Field(
        True,
        description="One `/models` fetch per catalog interval for the whole fleet: a Redis "
        "lock elects the fetcher, the others read the shared payload.",
    )
    cost_snapshots: bool = Field(
        False,
        description="Push a usage/cost snapshot per answered request to Redis for billing "
        "pipelines (key layout in docs/operations.md).",
    )
    cost_snapshot_ttl_s: int = Field(
        900, ge=60, le=86400, description="TTL of a cost snapshot key."
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.flush_backoff_max_s < self.flush_interval_s:
            raise ValueError("redis.flush_backoff_max_s must be at least redis.flush_interval_s")
        return self
