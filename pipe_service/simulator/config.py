"""Typed configuration of the OpenRouter simulator.

Every knob has a default that keeps tests fast (no pacing); benchmarks raise the pacing fields.
Per-request overrides of the pacing knobs are described in :mod:`pipe_service.simulator.pacing`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class SimulatorConfig(BaseModel):
    """Settings of one simulator server, validated at start-up."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    catalog_path: Path | None = Field(
        default=None,
        description=(
            "JSON catalog served by GET /api/v1/models: a bare array of model rows or "
            "{'data': [...]}. None serves the built-in simulator catalog (sim_models.json). "
            "The sim/* scenario models stay callable on /responses either way."
        ),
    )
    api_keys: list[str] | None = Field(
        default=None,
        description="Accepted bearer keys. None accepts any key that starts with 'sk-or-'.",
    )
    first_token_delay_s: float = Field(
        default=0.0, ge=0.0, description="Pause before response.created (keep-alives meanwhile)."
    )
    inter_delta_delay_s: float = Field(
        default=0.0, ge=0.0, description="Pause between two consecutive delta events."
    )
    answer_words: int = Field(
        default=24, ge=1, le=100_000, description="Filler words in a text answer (after the echo)."
    )
    words_per_delta: int = Field(
        default=1, ge=1, le=100_000, description="Words carried by each text/reasoning delta."
    )
    keepalive_interval_s: float = Field(
        default=15.0,
        gt=0.0,
        description="During a pause, a ': OPENROUTER PROCESSING' comment is sent this often.",
    )
    leading_keepalives: int = Field(
        default=1, ge=0, le=100, description="Keep-alive comments sent before the first event."
    )
    retry_after_s: int = Field(
        default=2, ge=0, description="Retry-After header value (seconds) on 429 and 503 answers."
    )
    stall_s: float = Field(
        default=3600.0,
        ge=0.0,
        description="How long sim/stall stays silent after response.in_progress.",
    )
    request_log_size: int = Field(
        default=0,
        ge=0,
        le=100_000,
        description="Request records kept for GET /_sim/requests; 0 (default) keeps no log.",
    )
    request_log_max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=0,
        description="A logged body larger than this is recorded by its size only.",
    )
    request_log_max_total_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=0,
        description="Bodies kept in the request log in total; the oldest records go first.",
    )
    generation_log_size: int = Field(
        default=1000,
        ge=1,
        le=1_000_000,
        description="Generation records kept for GET /api/v1/generation (oldest dropped first).",
    )
    graceful_timeout_s: float = Field(
        default=1.0,
        ge=0.0,
        description="hypercorn grace period on shutdown; paused/stalled streams drop at once.",
    )
    provider_name: str = Field(
        default="Simulator", min_length=1, description="provider_name reported in records/errors."
    )
