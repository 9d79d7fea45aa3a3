"""``[tools]``: limits, timeouts, retries and breakers of the function-call loop.

Every field says its default and range; docs/tools.md explains how they interact.

Synopsis::

    settings = ToolSettings(per_call_timeout_s=30, batch_cap=4)
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ToolSettings(BaseModel):
    """How tools called by the model are run (pipeline mode); frozen, validated at start-up."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_function_call_loops: int = Field(
        10,
        ge=1,
        le=100,
        description=(
            "Default 10, 1-100. Tool rounds per turn (model asks, tools run, model is called "
            "again). After the last round one final request with `tool_choice: none` asks the "
            "model to answer with what it has."
        ),
    )
    per_call_timeout_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="Default 60, 0-3600 s. One tool call longer than this fails as timed out.",
    )
    batch_timeout_s: float = Field(
        120.0,
        gt=0,
        le=7200,
        description=(
            "Default 120, 0-7200 s. A batch (calls run together) longer than this: its "
            "unfinished calls fail as timed out."
        ),
    )
    idle_timeout_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        description=(
            "Default 60, 0-3600 s. When no call of a round finished for this long, the round's "
            "unfinished calls fail as timed out."
        ),
    )
    max_concurrent_per_request: int = Field(
        4, ge=1, le=64, description="Default 4, 1-64. Tool calls of one request run at once."
    )
    max_concurrent_global: int = Field(
        32, ge=1, le=4096, description="Default 32, 1-4096. Tool calls of the process run at once."
    )
    batch_cap: int = Field(
        8,
        ge=1,
        le=64,
        description=(
            "Default 8, 1-64. Consecutive calls of the same tool with independent arguments "
            "form one batch of at most this many calls."
        ),
    )
    retries: int = Field(
        1,
        ge=0,
        le=5,
        description=(
            "Default 1, 0-5. Extra attempts for a transient failure (the executor raised "
            "ToolTransientError or returned a retryable outcome); never for a tool's own error."
        ),
    )
    retry_backoff_s: float = Field(
        0.5,
        ge=0,
        le=60,
        description="Default 0.5, 0-60 s. Wait before retry n: retry_backoff_s * 2**(n-1).",
    )
    breaker_failures: int = Field(
        5,
        ge=1,
        le=100,
        description=(
            "Default 5, 1-100. Failures of one tool for one user within breaker_window_s that "
            "open that tool's breaker (the tool is skipped for the user until it recovers)."
        ),
    )
    user_breaker_failures: int = Field(
        20,
        ge=1,
        le=1000,
        description=(
            "Default 20, 1-1000. Failures of any tools for one user within breaker_window_s that "
            "open the user's breaker (all the user's tool calls are skipped until it recovers)."
        ),
    )
    breaker_window_s: float = Field(
        60.0,
        ge=1,
        le=3600,
        description=(
            "Default 60, 1-3600 s. The sliding failure window, and how long an open breaker "
            "stays open before it lets one trial call through (half-open)."
        ),
    )
    queue_size: int = Field(
        64,
        ge=1,
        le=1024,
        description=(
            "Default 64, 1-1024. Calls one model response may queue; calls beyond it are not run "
            "and the model is told why."
        ),
    )
    strict_schemas: bool = Field(
        True,
        description=(
            "Default true. Send the tools run here with strict JSON Schema (`strict: true`); a "
            "schema strict mode cannot express is sent as is with `strict: false`. "
            "`chat.strict_tools` false (or the shim's ENABLE_STRICT_TOOL_CALLING valve) turns "
            "it off too."
        ),
    )

    @model_validator(mode="after")
    def _batch_timeout_covers_a_call(self) -> ToolSettings:
        if self.batch_timeout_s < self.per_call_timeout_s:
            raise ValueError(
                "tools.batch_timeout_s must be >= tools.per_call_timeout_s "
                f"({self.batch_timeout_s} < {self.per_call_timeout_s}); raise batch_timeout_s"
            )
        return self
