"""The ``[persistence]`` settings section: what is stored, how it is encrypted, how long it is
kept, and how the writer batches."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

ReasoningRetention = Literal["off", "next_reply", "conversation"]


class PersistenceSettings(BaseModel):
    """Stored reasoning and tool items (replayed next turn through hidden markers)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(
        True, description="Store reasoning and tool items and replay them next turn."
    )
    encryption_key: SecretStr | None = Field(
        None,
        description="Secret the artifact encryption key is derived from (scrypt, salted per "
        "database). Unset: a key generated into `<var_dir>/artifact-keys` (mode 0600) on "
        "first start.",
        json_schema_extra={"secret": True},
    )
    previous_keys: tuple[SecretStr, ...] = Field(
        (),
        description="Older secrets, decrypt-only, so rows written before a key change stay "
        "readable until `pipe-service keys rotate` re-encrypts them.",
        json_schema_extra={"secret": True},
    )
    encrypt: Literal["all", "reasoning"] = Field(
        "all",
        description="`all`: every stored item is encrypted; `reasoning`: only reasoning items "
        "(tool calls and results stored compressed but readable by the database operator).",
    )
    reasoning_retention: ReasoningRetention = Field(
        "conversation",
        description="`conversation`: reasoning is replayed on every later turn of the chat; "
        "`next_reply`: replayed once, then deleted; `off`: reasoning is not stored.",
    )
    persist_tool_results: bool = Field(
        True, description="Store tool calls and their results so later turns replay them."
    )
    tool_output_retention_turns: int = Field(
        5,
        ge=0,
        le=1000,
        description="Tool results replayed from more than this many turns back are trimmed "
        "to their head and tail (0: trim every replayed result).",
    )
    tool_output_trim_chars: int = Field(
        2000,
        ge=100,
        le=1_000_000,
        description="Characters kept of a trimmed tool result (half head, half tail).",
    )
    retention_days: float = Field(
        30.0,
        ge=0,
        le=3650,
        description="Delete artifacts not replayed for this many days; 0 keeps them forever.",
    )
    cleanup_interval_s: float = Field(
        3600.0, ge=1, le=86400 * 7, description="How often the cleanup actor runs."
    )
    cleanup_batch: int = Field(
        1000, ge=1, le=100_000, description="Rows deleted per cleanup transaction."
    )
    writer_inbox: int = Field(
        256,
        ge=1,
        le=100_000,
        description="Batches queued for the writer; when full, turns wait (nothing is dropped).",
    )
    writer_max_batch: int = Field(
        512, ge=1, le=100_000, description="Rows committed in one writer transaction at most."
    )
    writer_max_delay_s: float = Field(
        0.0,
        ge=0,
        le=5,
        description="Wait this long for more batches before committing (0: commit what is "
        "queued at once; batching then comes from commits overlapping arrivals).",
    )
    ack_wait_s: float = Field(
        2.0,
        gt=0,
        le=60,
        description="How long the end of an answer waits for its artifacts to commit; past "
        "it the answer ends without markers (nothing is replayed next turn).",
    )
    breaker_failures: int = Field(
        3,
        ge=1,
        le=1000,
        description="Failed writes within `breaker_window_s` that pause a user's persistence.",
    )
    breaker_window_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Breaker window; a paused user's persistence is retried after it.",
    )
    migrate_at_start: bool = Field(
        True,
        description="Apply pending schema migrations that are safe at start-up; false: refuse "
        "to start until `pipe-service db upgrade` ran.",
    )
