"""Settings for the request transform: admin defaults, user overrides and request identity.

``TransformOptions`` holds admin-level defaults (the seed's Valves); ``UserOverrides`` holds a
user's own choices (the seed's UserValves) where ``None`` means "not set, use the admin value";
``RequestIdentity`` carries the ids Open WebUI puts in ``__metadata__``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipe_service.transform.routing_options import MaxPrice, ModelRoutingRule, ProviderRouting

__all__ = [
    "Endpoint",
    "FileParserEngine",
    "MaxPrice",
    "ModelRoutingRule",
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
Endpoint = Literal["responses", "chat_completions"]
CacheTtl = Literal["5m", "1h"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


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
    advisor_enabled: bool = Field(
        default=False,
        description=(
            "Default false. Offer the `openrouter:advisor` server tool (the model may consult a "
            "stronger model mid-answer) to tool-calling models."
        ),
    )
    subagent_enabled: bool = Field(
        default=False,
        description=(
            "Default false. Offer the `openrouter:subagent` server tool (the model may hand a "
            "task to a cheaper worker model) to tool-calling models."
        ),
    )
    search_models_enabled: bool = Field(
        default=False,
        description=(
            "Default false. Offer OpenRouter's experimental model-search server tool "
            "(`openrouter:experimental__search_models`) to tool-calling models."
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
    model_routing: tuple[ModelRoutingRule, ...] = Field(
        default=(),
        description=(
            "Default empty. Per-model provider routing rules (models globs, routing, "
            "user_override); the first rule matching the model applies."
        ),
    )
    zdr_enforce: bool = Field(
        default=False,
        description=(
            "Default false. Send provider.zdr=true on every request: only zero-data-retention "
            "endpoints serve, and a model without one is refused by OpenRouter."
        ),
    )
    allow_user_zdr: bool = Field(
        default=True,
        description=(
            "Default true. Users may ask for ZDR routing themselves (user valve REQUEST_ZDR); "
            "when false such a request is refused with an error naming the valve."
        ),
    )
    default_endpoint: Endpoint = Field(
        default="responses",
        description="Default 'responses'. OpenRouter endpoint for models no list below names.",
    )
    chat_completions_models: tuple[str, ...] = Field(
        default=(),
        description="Default empty. Slugs or globs always sent to /chat/completions.",
    )
    responses_models: tuple[str, ...] = Field(
        default=(),
        description=(
            "Default empty. Slugs or globs always sent to /responses (wins over "
            "chat_completions_models; no automatic fallback for them)."
        ),
    )
    auto_fallback_chat_completions: bool = Field(
        default=True,
        description=(
            "Default true. When /responses answers that the model or a feature is not "
            "supported, before any output, send the same request to /chat/completions."
        ),
    )
    anthropic_prompt_caching: bool = Field(
        default=True,
        description=(
            "Default true. Mark Claude prompts cacheable (top-level cache_control on "
            "/responses, per-block breakpoints on /chat/completions)."
        ),
    )
    anthropic_prompt_cache_ttl: CacheTtl = Field(
        default="5m", description="Default '5m'. Lifetime of Claude cache breakpoints: 5m or 1h."
    )
    anthropic_interleaved_thinking: bool = Field(
        default=True,
        description=(
            "Default true. Send `x-anthropic-beta: interleaved-thinking-2025-05-14` to Claude "
            "models when reasoning is on (thinking between tool calls)."
        ),
    )
    gemini_thinking_budget: int = Field(
        default=1024,
        ge=0,
        le=32768,
        description=(
            "Default 1024; 0 to 32768. Thinking budget (tokens) for Gemini 2.5 models at "
            "'medium' effort, scaled by effort and sent as reasoning.max_tokens; 0 sends the "
            "effort instead."
        ),
    )
    cache_session_id: bool = Field(
        default=True,
        description=(
            "Default true. Send a stable per-chat `session_id` (HMAC of the chat id with the "
            "server's session secret) so a chat stays on one provider and its prompt cache."
        ),
    )
    max_output_tokens_cap: int | None = Field(
        default=None,
        ge=1,
        description="Default unset; ≥ 1. Upper bound on `max_output_tokens` for every request.",
    )
    use_model_max_output_tokens: bool = Field(
        default=False,
        description=(
            "Default false. When the body sets no limit, send the model's max output tokens "
            "(after the cap)."
        ),
    )

    @field_validator("fallback_models", "chat_completions_models", "responses_models")
    @classmethod
    def _entries_non_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not slug.strip() for slug in value):
            raise ValueError("entries must be non-empty slugs or glob patterns")
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
        default=None,
        description="Default unset. true adds provider.zdr=true (if the admin allows it).",
    )
    provider_routing: ProviderRouting | None = Field(
        default=None,
        description=(
            "Default unset. The user's own `provider` preferences; allowed only for models "
            "whose model_routing rule sets user_override."
        ),
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
    affinity_key: str | None = Field(
        default=None,
        description=(
            "Stable per-chat routing key (HMAC of the chat id, set by the gateway); sent as "
            "`session_id` when cache_session_id is on."
        ),
    )

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
