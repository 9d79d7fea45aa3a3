"""Typed, validated configuration of the OpenRouter client.

Every field is documented here and in ``docs/upstream.md`` (name, default,
range). Validation happens at start-up; errors name the field.
"""

from __future__ import annotations

from typing import Self

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from pipe_service.openrouter.retry import RetryPolicy

__all__ = ["DEFAULT_BASE_URL", "UpstreamClientConfig"]

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"


class UpstreamClientConfig(BaseModel):
    """How the gateway talks to OpenRouter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = Field(
        DEFAULT_BASE_URL,
        description="OpenRouter API root (http or https); '/responses' etc. are appended.",
    )
    api_key: SecretStr | None = Field(
        None,
        description="Default API key; a per-request key wins. None: every call must pass one.",
    )
    http_referer: str | None = Field(
        None, max_length=512, description="Sent as HTTP-Referer (OpenRouter app attribution)."
    )
    x_title: str | None = Field(
        None,
        max_length=256,
        description="Sent as X-OpenRouter-Title and, for compatibility, X-Title.",
    )
    connect_timeout_s: float = Field(5.0, gt=0, le=120, description="TCP+TLS connect timeout.")
    read_timeout_s: float = Field(
        300.0,
        gt=0,
        le=3600,
        description=(
            "Longest wait for OpenRouter to start answering (the response head), and for the "
            "silence between bytes of a body that is not streamed."
        ),
    )
    stall_timeout_s: float = Field(
        120.0,
        gt=0,
        le=3600,
        description=(
            "A streamed answer that sends not a byte for this long is abandoned as stalled. "
            "OpenRouter sends keep-alive comments every few seconds while a model thinks, so "
            "two minutes of total silence means a dead stream, not a slow model."
        ),
    )
    write_timeout_s: float = Field(30.0, gt=0, le=600, description="Sending the request body.")
    pool_timeout_s: float = Field(
        30.0, gt=0, le=600, description="Waiting for a free connection in a full shard."
    )
    shards: int = Field(
        4,
        ge=1,
        le=64,
        description="Number of httpx clients (connection pools) requests spread over.",
    )
    max_connections_per_shard: int = Field(
        100,
        ge=1,
        le=100,
        description="Connection cap per shard; <= 100 keeps httpcore's O(N^2) pool cheap.",
    )
    max_keepalive_per_shard: int = Field(
        20, ge=0, le=100, description="Idle connections kept per shard for reuse."
    )
    keepalive_expiry_s: float = Field(
        30.0, gt=0, le=600, description="Idle connections older than this are closed."
    )
    retry_max_attempts: int = Field(
        3, ge=1, le=10, description="Attempts per call including the first (before the 200)."
    )
    retry_base_backoff_s: float = Field(0.5, ge=0, le=60, description="First backoff.")
    retry_max_backoff_s: float = Field(8.0, ge=0, le=300, description="Backoff ceiling.")
    retry_jitter: float = Field(
        0.2, ge=0, le=1, description="Backoff is scaled by a random factor in [1-jitter, 1]."
    )
    retry_max_wait_s: float = Field(
        30.0,
        ge=0,
        le=600,
        description="Longest Retry-After honoured; a longer one is surfaced to the user at once.",
    )
    auth_latch_threshold: int = Field(
        3, ge=1, le=100, description="Consecutive 401s for one key that close its latch."
    )
    auth_latch_window_s: float = Field(
        60.0, gt=0, le=3600, description="The 401s must fall within this window."
    )
    auth_latch_s: float = Field(
        60.0, gt=0, le=3600, description="How long a latched key fails fast before one probe."
    )
    max_error_body_bytes: int = Field(
        65_536, ge=1024, le=1_048_576, description="Bytes of an error body read for parsing."
    )

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        url = httpx.URL(value)
        if url.scheme not in {"http", "https"} or not url.host:
            raise ValueError("base_url must be an absolute http(s) URL, e.g. " + DEFAULT_BASE_URL)
        return value.rstrip("/")

    @model_validator(mode="after")
    def _check_coherence(self) -> Self:
        if self.max_keepalive_per_shard > self.max_connections_per_shard:
            raise ValueError("max_keepalive_per_shard must be <= max_connections_per_shard")
        if self.retry_max_backoff_s < self.retry_base_backoff_s:
            raise ValueError("retry_max_backoff_s must be >= retry_base_backoff_s")
        return self

    def retry_policy(self) -> RetryPolicy:
        """The :class:`RetryPolicy` these fields describe."""
        return RetryPolicy(
            max_attempts=self.retry_max_attempts,
            base_backoff_s=self.retry_base_backoff_s,
            max_backoff_s=self.retry_max_backoff_s,
            jitter=self.retry_jitter,
            max_retry_after_s=self.retry_max_wait_s,
        )

    def stream_timeout(self) -> httpx.Timeout:
        """For streamed responses: no per-read timeout (each read would pay a cancel scope);
        the response head is bounded by ``read_timeout_s`` in the client, and the body's
        silence by ``stall_timeout_s``, one deadline per stream moved on progress."""
        return httpx.Timeout(
            connect=self.connect_timeout_s,
            read=None,
            write=self.write_timeout_s,
            pool=self.pool_timeout_s,
        )

    def httpx_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect_timeout_s,
            read=self.read_timeout_s,
            write=self.write_timeout_s,
            pool=self.pool_timeout_s,
        )

    def httpx_limits(self) -> httpx.Limits:
        return httpx.Limits(
            max_connections=self.max_connections_per_shard,
            max_keepalive_connections=self.max_keepalive_per_shard,
            keepalive_expiry=self.keepalive_expiry_s,
        )
