"""The kind of a failure as an administrator words it: one error template per kind.

Upstream errors are grouped the way users experience them (the seed pipe's template set:
rate limit, authentication, credits, moderation, context too long, provider trouble, timeout,
…); gateway errors keep their own kinds. ``interrupted`` covers every answer cut off
mid-stream.

Synopsis::

    template = settings.templates.get(failure_kind(error)) or settings.error_template
"""

from __future__ import annotations

from typing import Final

from pipe_service.chat.error_messages import LocalError, LocalErrorKind
from pipe_service.config.error_templates import FailureKind
from pipe_service.openrouter.errors import UpstreamError, UpstreamErrorKind

__all__ = ["failure_kind"]

_K = UpstreamErrorKind
_BY_UPSTREAM_KIND: Final[dict[UpstreamErrorKind, FailureKind]] = {
    _K.RATE_LIMITED: "rate_limit",
    _K.UNAUTHORIZED: "auth",
    _K.PAYMENT_REQUIRED: "credits",
    _K.FORBIDDEN: "forbidden",
    _K.PAYLOAD_TOO_LARGE: "payload_too_large",
    _K.BAD_REQUEST: "bad_request",
    _K.NOT_FOUND: "model_unavailable",
    _K.SERVER_ERROR: "provider_down",
    _K.TIMEOUT: "timeout",
    _K.NETWORK: "network",
    _K.STREAM_FAILED: "interrupted",
    _K.STREAM_INCOMPLETE: "interrupted",
    _K.STALLED: "interrupted",
}
_BY_LOCAL_KIND: Final[dict[LocalErrorKind, FailureKind]] = {
    LocalErrorKind.BUSY: "busy",
    LocalErrorKind.SLOW_DOWN: "slow_down",
    LocalErrorKind.INVALID_REQUEST: "invalid_request",
    LocalErrorKind.INTERNAL: "internal",
    LocalErrorKind.RESTRICTED_MODEL: "restricted_model",
    LocalErrorKind.SHUTTING_DOWN: "shutting_down",
    LocalErrorKind.TOOL_HOST_GONE: "tool_host_gone",
}
_CONTEXT_ERROR_TYPES: Final = frozenset(
    {"context_length_exceeded", "token_limit_exceeded", "max_tokens_exceeded", "string_too_long"}
)
_CONTEXT_WORDS: Final = ("context length", "context window", "maximum context", "too many tokens")


def failure_kind(error: UpstreamError | LocalError) -> FailureKind:
    """The template kind of ``error``."""
    if isinstance(error, LocalError):
        return _BY_LOCAL_KIND[error.kind]
    if error.kind is _K.FORBIDDEN and error.moderation_reasons:
        return "moderation"
    if error.kind in (_K.BAD_REQUEST, _K.PAYLOAD_TOO_LARGE) and _is_context_error(error):
        return "context_too_long"
    return _BY_UPSTREAM_KIND[error.kind]


def _is_context_error(error: UpstreamError) -> bool:
    if error.error_type in _CONTEXT_ERROR_TYPES:
        return True
    text = f"{error.message} {error.detail or ''}".lower()
    return any(words in text for words in _CONTEXT_WORDS)
