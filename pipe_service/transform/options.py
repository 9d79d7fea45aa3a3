"""Settings for the request transform: admin defaults, user overrides and request identity.

``TransformOptions`` holds admin-level defaults (the seed's Valves); ``UserOverrides`` holds a
user's own choices (the seed's UserValves) where ``None`` means "not set, use the admin value";
``RequestIdentity`` carries the ids Open WebUI puts in ``__metadata__``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "FileParserEngine",
    "MaxPrice",
    "ProviderRouting",
    "ReasoningEffort",
    "ReasoningSummary",
    "RequestIdentity",
    "TransformOptions",
    "UserOverrides",
]

ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
ReasoningSummary = Literal["auto", "concise", "detailed", "disabled"]
FileParserEngine = Literal["mistral-ocr", "native", "cloudflare-ai", "pdf-text"]
Quantization = Literal[
    "int4", "int8", "fp4", "mxfp4", "nvfp4", "fp6", "fp8", "mxfp8", "fp16", "bf16", "fp32",
    "unknown",
]  # fmt: skip
ProviderSort = Literal["price", "throughput", "latency", "exacto"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class MaxPrice(BaseModel):
    """Highest acceptable price per unit, USD; sent as decimal strings."""

    model_config = _FROZEN

    prompt: Decimal | None = Field(default=None, ge=0, description="Default unset; ≥ 0.")
    completion: Decimal | None = Field(default=None, ge=0, description="Default unset; ≥ 0.")
    request: Decimal | None = Field(default=None, ge=0, description="Default unset; ≥ 0.")
    image: Decimal | None = Field(default=None, ge=0, description="Default unset; ≥ 0.")
    audio: Decimal | None = Field(default=None, ge=0, description="Default unset; ≥ 0.")


class ProviderRouting(BaseModel):
    """OpenRouter ``provider`` routing preferences; unset fields are not sent."""

    model_config = _FROZEN

    order: tuple[str, ...] | None = Field(
        default=None, description="Default unset. Provider slugs to try first, in order."
    )
    only: tuple[str, ...] | None = Field(
        default=None, description="Default unset. Allow only these provider slugs."
    )
    ignore: tuple[str, ...] | None = Field(
        default=None, description="Default unset. Never use these provider slugs."
    )
    allow_fallbacks: bool | None = Field(
        default=None, description="Default unset (OpenRouter: true). Fall back to others."
    )
    require_parameters: bool | None = Field(
        default=None, description="Default unset. Only providers supporting every parameter."
    )
    data_collection: Literal["allow", "deny"] | None = Field(
        default=None, description="Default unset. 'deny' avoids providers that store data."
    )
    zdr: bool | None = Field(
        default=None, description="Default unset. Only zero-data-retention endpoints."
    )
    sort: ProviderSort | None = Field(
        default=None, description="Default unset. One of price, throughput, latency, exacto."
    )
    quantizations: tuple[Quantization, ...] | None = Field(
        default=None, description="Default unset. Allowed quantizations (int4 … fp32, unknown)."
    )
    max_price: MaxPrice | None = Field(
        default=None, description="Default unset. Price ceilings per unit (USD)."
    )

    @field_validator("order", "only", "ignore")
    @classmethod
    def _non_empty_slugs(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and any(not slug.strip() for slug in value):
            raise ValueError("provider slugs must be non-empty strings")
        return value

    def to_payload(self) -> dict[str, Any]:
        """The ``provider`` object for the Responses request (prices as strings)."""
        payload = self.model_dump(mode="json", exclude_none=True)
        for key in ("order", "only", "ignore", "quantizations"):
            if key in payload:
                payload[key] = list(payload[key])
        return payload


class TransformOptions(BaseModel):
    """Admin-level defaults for building a Responses request (frozen; validated at start-up)."""

    model_config = _FROZEN

    reasoning_enabled: bool = Field(
        default=True,
        description="Default true. Send a `reasoning` object to reasoning-capable models.",
    )
    reasoning_effort: ReasoningEffort = Field(
        default="medium",
        description="Default 'medium'. One of none, minimal, low, medium, high, xhigh, max.",
    )
    reasoning_summary: ReasoningSummary = Field(
        default="auto",
        description="Default 'auto'. auto, concise, detailed, or disabled (no summary sent).",
    )
    include_encrypted_reasoning: bool = Field(
        default=True,
        description=(
            "Default true. Ask reasoning models for `reasoning.encrypted_content` so the "
            "reasoning can be replayed next turn."
        ),
    )
    gemini_thinking_budget: int | None = Field(
        default=None,
        ge=0,
        le=65536,
        description=(
            "Default unset (effort only). For `google/gemini…` reasoning models send "
            "`reasoning.max_tokens` = this budget scaled by the effort (minimal ¼, low ½, "
            "medium 1, high 2, xhigh 4, max 8; none or 0: no thinking)."
        ),
    )
    task_reasoning_effort: ReasoningEffort = Field(
        default="low",
        description="Default 'low'. Effort for Open WebUI task requests (titles, tags, …).",
    )
    strict_tools: bool = Field(
        default=True,
        description="Default true. Rewrite tool schemas to strict JSON Schema, strict=true.",
    )
    send_user_id: bool = Field(
        default=False, description="Default false. Send the Open WebUI user id as `user`."
    )
    end_user_id_source: Literal["id", "email", "name"] = Field(
        default="id",
        description=(
            "Default 'id'. What `user` carries when `send_user_id` is on: the Open WebUI user "
            "id, the user's email, or their name."
        ),
    )
    send_session_id: bool = Field(
        default=False,
        description="Default false. Send the request identity's session id as `session_id`.",
    )
    send_metadata: bool = Field(
        default=False,
        description="Default false. Send user/chat/session/message ids as `metadata`.",
    )
    send_chat_id: bool = Field(
        default=False, description="Default false. Send the chat id as `metadata.chat_id`."
    )
    send_message_id: bool = Field(
        default=False,
        description="Default false. Send the assistant message id as `metadata.message_id`.",
    )
    allow_user_zdr: bool = Field(
        default=True,
        description="Default true. A user's own REQUEST_ZDR valve may add `provider.zdr=true`.",
    )
    web_search_enabled: bool = Field(
        default=False, description="Default false. Add OpenRouter web search to requests."
    )
    web_search_max_results: int = Field(
        default=5, ge=1, le=25, description="Default 5; 1 to 25. Results per web search."
    )
    web_search_mode: Literal["plugin", "tool"] = Field(
        default="tool",
        description=(
            "Default 'tool' (the `openrouter:web_search` server tool; models without tool "
            "support get the plugin instead). 'plugin' always uses the `web` plugin."
        ),
    )
    web_fetch_enabled: bool = Field(
        default=False,
        description=(
            "Default false. Offer the `openrouter:web_fetch` server tool (the model may read a "
            "web page by URL) to tool-calling models."
        ),
    )
    datetime_enabled: bool = Field(
        default=False,
        description=(
            "Default false. Offer the `openrouter:datetime` server tool (the current date and "
            "time) to tool-calling models."
        ),
    )
    file_parser_engine: FileParserEngine | None = Field(
        default=None,
        description=(
            "Default unset. PDF engine for the `file-parser` plugin (mistral-ocr, native, "
            "cloudflare-ai, pdf-text); added only when the input carries a file."
        ),
    )
    auto_context_trimming: bool = Field(
        default=False,
        description="Default false. Add the `context-compression` plugin (middle-out trim).",
    )
    fallback_models: tuple[str, ...] = Field(
        default=(),
        description="Default empty. Slugs sent as `models`, tried in order if the model fails.",
    )
    provider_routing: ProviderRouting | None = Field(
        default=None, description="Default unset. OpenRouter `provider` preferences."
    )
    provider_routing_by_model: dict[str, ProviderRouting] = Field(
        default_factory=dict,
        description=(
            "Default empty. Provider preferences per model: slug or glob pattern → the same "
            "object as `provider_routing`, first match wins and replaces it for that model "
            "(the seed's ADMIN_PROVIDER_ROUTING_MODELS)."
        ),
    )
    max_output_tokens_cap: int | None = Field(
        default=None,
        ge=1,
        description="Default unset; ≥ 1. Upper bound on `max_output_tokens` for every request.",
    )
    anthropic_prompt_caching: bool = Field(
        default=False,
        description=(
            "Default false. For `anthropic/…` models send `cache_control` (ephemeral) so "
            "Claude caches the prompt prefix."
        ),
    )
    anthropic_prompt_cache_ttl: Literal["5m", "1h"] = Field(
        default="5m", description="Default '5m'. TTL of Claude's prompt cache: 5m or 1h."
    )
    anthropic_interleaved_thinking: bool = Field(
        default=False,
        description=(
            "Default false. For `anthropic/…` reasoning models send the "
            "`x-anthropic-beta: interleaved-thinking-2025-05-14` header (thinking between tool "
            "calls)."
        ),
    )
    use_model_max_output_tokens: bool = Field(
        default=False,
        description=(
            "Default false. When the body sets no limit, send the model's max output tokens "
            "(after the cap)."
        ),
    )

    @field_validator("fallback_models")
    @classmethod
    def _fallbacks_non_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not slug.strip() for slug in value):
            raise ValueError("fallback_models entries must be non-empty slugs")
        return tuple(slug.strip() for slug in value)


class UserOverrides(BaseModel):
    """A user's own settings; ``None`` means "not set", so the admin value applies."""

    model_config = _FROZEN

    reasoning_enabled: bool | None = Field(
        default=None, description="Default unset. Overrides TransformOptions.reasoning_enabled."
    )
    reasoning_effort: ReasoningEffort | None = Field(
        default=None, description="Default unset. Overrides TransformOptions.reasoning_effort."
    )
    reasoning_summary: ReasoningSummary | None = Field(
        default=None, description="Default unset. Overrides TransformOptions.reasoning_summary."
    )
    web_search: bool | None = Field(
        default=None,
        description="Default unset. false turns admin-enabled web search off for this user.",
    )
    request_zdr: bool | None = Field(
        default=None, description="Default unset. true adds provider.zdr=true."
    )
    persist_reasoning: Literal["off", "next_reply", "conversation"] | None = Field(
        default=None,
        description=(
            "Default unset. Keep this user's reasoning for replay: off, next_reply or "
            "conversation; only narrows persistence.reasoning_retention."
        ),
    )
    persist_tool_results: bool | None = Field(
        default=None,
        description=(
            "Default unset. false: this user's tool calls and results are not stored for "
            "replay (true cannot enable what the administrator turned off)."
        ),
    )


class RequestIdentity(BaseModel):
    """Ids from Open WebUI's request metadata; absent ids are ``None``."""

    model_config = _FROZEN

    user_id: str | None = Field(default=None, description="Open WebUI user id.")
    user_email: str | None = Field(default=None, description="The user's email.")
    user_name: str | None = Field(default=None, description="The user's display name.")
    chat_id: str | None = Field(default=None, description="Open WebUI chat id.")
    session_id: str | None = Field(
        default=None,
        description=(
            "Session key sent as `session_id` (sticky routing). Open WebUI's socket session id "
            "changes per connection; a caller wanting prompt-cache affinity may pass a stable "
            "per-chat key instead."
        ),
    )
    message_id: str | None = Field(default=None, description="Assistant message id.")

    @classmethod
    def from_owui_metadata(cls, metadata: Mapping[str, Any]) -> RequestIdentity:
        """Read ``user_id``, ``chat_id``, ``session_id``, ``message_id`` (non-strings ignored)."""

        def text(key: str) -> str | None:
            value = metadata.get(key)
            return value if isinstance(value, str) and value else None

        return cls(
            user_id=text("user_id"),
            chat_id=text("chat_id"),
            session_id=text("session_id"),
            message_id=text("message_id"),
        )
