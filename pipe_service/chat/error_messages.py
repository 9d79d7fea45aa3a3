"""User-facing Markdown for failures: upstream errors and the gateway's own.

Every message says what happened, what the user can do, and carries the
error id (so an administrator can find the log line). The layout is a
template with named placeholders, configurable like the seed's error-template
valves; ``config.error_templates.validate_error_template`` rejects unknown
placeholders at start-up with an error that names them.

Placeholders: ``{title}`` short headline; ``{message}`` the explanation plus
what OpenRouter said; ``{explanation}`` the explanation alone; ``{detail}``
what OpenRouter said alone (may be empty); ``{retry_hint}`` when to try again
(may be empty); ``{error_id}``; ``{status}`` HTTP status or empty; ``{kind}``;
``{retry_after}`` seconds to wait or empty; ``{provider}`` the provider OpenRouter named or
empty; ``{timestamp}`` the UTC time of the failure; ``{support}`` the administrator's support
contact line (empty when none is configured); and the seed pipe's names ``{openrouter_code}``,
``{openrouter_message}``, ``{retry_after_seconds}``, ``{rate_limit_type}``, with its
``{{#if name}}…{{/if}}`` blocks (kept only when ``{name}`` is not empty).

Synopsis::

    validate_error_template(settings.error_template)  # at start-up
    text = render_error_markdown(err, template=settings.error_template)
    final = partial_text + render_interrupted_notice(err)  # mid-stream failure
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pipe_service.config.error_templates import CONDITIONAL_BLOCK, validate_error_template
from pipe_service.openrouter.errors import UpstreamError, UpstreamErrorKind, new_error_id

__all__ = [
    "DEFAULT_ERROR_TEMPLATE",
    "DEFAULT_INTERRUPTED_TEMPLATE",
    "LocalError",
    "LocalErrorKind",
    "render_error_markdown",
    "render_interrupted_notice",
]

DEFAULT_ERROR_TEMPLATE = (
    "### ⚠️ {title}\n\n{message}\n\n{retry_hint}\n\n{support}\n\n"
    "<sub>Error ID: {error_id}</sub>"
)
DEFAULT_INTERRUPTED_TEMPLATE = (
    "\n\n---\n\n⚠️ **{title}.** {message}\n\n{retry_hint}\n\n{support}\n\n"
    "<sub>Error ID: {error_id}</sub>"
)
_RATE_LIMIT_TYPE = re.compile(r"rate limit exceeded: ([\w.-]+)", re.IGNORECASE)


class LocalErrorKind(enum.StrEnum):
    """Failures that happen in the gateway, not at OpenRouter."""

    BUSY = "busy"
    SLOW_DOWN = "slow_down"
    INVALID_REQUEST = "invalid_request"
    INTERNAL = "internal"
    RESTRICTED_MODEL = "restricted_model"
    SHUTTING_DOWN = "shutting_down"
    TOOL_HOST_GONE = "tool_host_gone"


@dataclass(frozen=True)
class LocalError:
    """A gateway-side failure to show the user (``message`` is safe to display)."""

    kind: LocalErrorKind
    message: str = ""
    retry_after_s: float | None = None
    error_id: str = field(default_factory=new_error_id)


_K = UpstreamErrorKind
_INTERRUPTED_KINDS = frozenset({_K.STREAM_FAILED, _K.STREAM_INCOMPLETE, _K.STALLED})

# kind -> (title, explanation). Explanations tell the user what to do next.
_UPSTREAM_COPY: dict[UpstreamErrorKind, tuple[str, str]] = {
    _K.BAD_REQUEST: (
        "OpenRouter rejected the request",
        "The request was not accepted; a setting or attachment may not be supported by this model.",
    ),
    _K.UNAUTHORIZED: (
        "Authentication failed",
        "OpenRouter did not accept the API key. Check the OpenRouter API key in the settings: "
        "it may be missing, mistyped, revoked or disabled.",
    ),
    _K.PAYMENT_REQUIRED: (
        "Insufficient credits",
        "The OpenRouter account is out of credits. Add credits at https://openrouter.ai/credits "
        "or pick a free model.",
    ),
    _K.FORBIDDEN: (
        "Request blocked",
        "OpenRouter refused this request (permissions, a guardrail or moderation).",
    ),
    _K.NOT_FOUND: (
        "Model not available",
        "The model was not found or has no available provider right now. Pick another model.",
    ),
    _K.TIMEOUT: (
        "Request timed out",
        "OpenRouter or the provider took too long to respond.",
    ),
    _K.PAYLOAD_TOO_LARGE: (
        "Request too large",
        "The conversation or its attachments are too large. Shorten the conversation, remove "
        "attachments or start a new chat.",
    ),
    _K.RATE_LIMITED: (
        "Rate limit reached",
        "Too many requests were sent to OpenRouter or the provider.",
    ),
    _K.SERVER_ERROR: (
        "Provider trouble",
        "OpenRouter or the model provider had a problem. This is usually temporary.",
    ),
    _K.NETWORK: (
        "Connection problem",
        "The network between the gateway and OpenRouter failed; OpenRouter and the model may "
        "be fine.",
    ),
    _K.STREAM_FAILED: (
        "The answer was interrupted",
        "The model's provider failed while generating the answer, and OpenRouter passed the "
        "failure on.",
    ),
    _K.STREAM_INCOMPLETE: (
        "The answer was interrupted",
        "OpenRouter ended the stream before the answer was complete.",
    ),
    _K.STALLED: (
        "The answer was interrupted",
        "Neither OpenRouter nor the model sent anything for too long (the model stopped sending "
        "data), so the gateway stopped waiting.",
    ),
}

_LOCAL_COPY: dict[LocalErrorKind, tuple[str, str]] = {
    LocalErrorKind.BUSY: (
        "Server busy",
        "The gateway is handling too many requests right now.",
    ),
    LocalErrorKind.SLOW_DOWN: (
        "Slow down",
        "Too many of your recent requests failed, so new ones are paused for a short while. "
        "Check the error shown before (an API key, a model setting) before trying again.",
    ),
    LocalErrorKind.INVALID_REQUEST: (
        "Invalid request",
        "The request could not be processed.",
    ),
    LocalErrorKind.INTERNAL: (
        "Internal error",
        "Something went wrong inside the gateway. Give the error ID below to your administrator.",
    ),
    LocalErrorKind.RESTRICTED_MODEL: (
        "Model not available here",
        "This model is not offered on this server: the administrator's model filters hide it, "
        "or it is not in the OpenRouter catalog. Pick another model.",
    ),
    LocalErrorKind.SHUTTING_DOWN: (
        "The gateway is restarting",
        "The pipe-service sidecar is restarting, so this answer was cut short. OpenRouter and "
        "the model are not at fault.",
    ),
    LocalErrorKind.TOOL_HOST_GONE: (
        "Tools unavailable",
        "Open WebUI, which runs this chat's tools, went away before the tools could run.",
    ),
}


def _safe_inline(text: str) -> str:
    # Upstream text is untrusted: keep it on one line and unable to inject HTML.
    return " ".join(text.split()).replace("<", "&lt;").replace(">", "&gt;")


def _wait_phrase(seconds: float) -> str:
    whole = max(math.ceil(seconds), 1)
    if whole >= 120:
        return f"about {math.ceil(whole / 60)} minutes"
    return f"{whole} second{'s' if whole != 1 else ''}"


def _retry_hint(err: UpstreamError | LocalError) -> str:
    if err.retry_after_s is not None:
        return f"You can try again in {_wait_phrase(err.retry_after_s)}."
    if isinstance(err, LocalError):
        if err.kind is LocalErrorKind.SHUTTING_DOWN:
            return "Please send it again in a moment."
        return "Please try again in a moment." if err.kind is LocalErrorKind.BUSY else ""
    if err.kind in _INTERRUPTED_KINDS:
        return "You can regenerate the answer."
    if err.retryable or err.kind in {_K.TIMEOUT, _K.NETWORK}:
        return "Please try again in a moment."
    return ""


def _upstream_detail(err: UpstreamError) -> str:
    lines = []
    if err.moderation_reasons:
        lines.append("Reasons: " + ", ".join(_safe_inline(r) for r in err.moderation_reasons))
    if err.message:
        source = "OpenRouter said" if said_by_openrouter(err) else "Details"
        provider = f" (provider: {_safe_inline(err.provider_name)})" if err.provider_name else ""
        lines.append(f"> {source}{provider}: {_safe_inline(err.message)}")
    return "\n\n".join(lines)


def said_by_openrouter(err: UpstreamError) -> bool:
    """True when ``err.message`` is OpenRouter's own words (an HTTP error body or a stream's
    failure event), not the gateway's description of a transport failure."""
    if err.local:
        return False
    return err.status is not None or err.kind is _K.STREAM_FAILED


def _values(err: UpstreamError | LocalError, support: str | None = None) -> dict[str, str]:
    if isinstance(err, LocalError):
        title, explanation = _LOCAL_COPY[err.kind]
        detail = _safe_inline(err.message)
        status = ""
    else:
        title, explanation = _UPSTREAM_COPY[err.kind]
        if err.kind is _K.FORBIDDEN and err.moderation_reasons:
            title = "Blocked by moderation"
        if err.kind is _K.SERVER_ERROR and err.status is not None:
            explanation = f"{explanation} (HTTP {err.status})"
        detail = _upstream_detail(err)
        status = "" if err.status is None else str(err.status)
    message = f"{explanation}\n\n{detail}" if detail else explanation
    values = {
        "title": title,
        "message": message,
        "explanation": explanation,
        "detail": detail,
        "retry_hint": _retry_hint(err),
        "error_id": err.error_id,
        "status": status,
        "kind": err.kind.value,
        "retry_after": "" if err.retry_after_s is None else str(math.ceil(err.retry_after_s)),
        "provider": ""
        if isinstance(err, LocalError) or not err.provider_name
        else _safe_inline(err.provider_name),
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "support": support or "",
    }
    values["retry_after_seconds"] = values["retry_after"]
    if isinstance(err, LocalError):
        values |= {"openrouter_code": "", "openrouter_message": "", "rate_limit_type": ""}
    else:
        limit = _RATE_LIMIT_TYPE.search(err.message) if err.kind is _K.RATE_LIMITED else None
        code = err.code if err.code is not None else err.status
        values |= {
            "openrouter_code": "" if code is None else _safe_inline(str(code)),
            "openrouter_message": _safe_inline(err.message),
            "rate_limit_type": limit.group(1) if limit else "",
        }
    return values


def _render(template: str, values: dict[str, str]) -> str:
    validate_error_template(template)
    kept = CONDITIONAL_BLOCK.sub(lambda c: c.group(2) if values[c.group(1)] else "", template)
    text = kept.format(**values)
    # Empty placeholders leave runs of blank lines; fold them.
    return re.sub(r"\n{3,}", "\n\n", text)


def render_error_markdown(
    err: UpstreamError | LocalError, *, template: str | None = None, support: str | None = None
) -> str:
    """The whole assistant message for a request that produced no answer.

    ``support`` fills ``{support}`` (the administrator's contact line).
    """
    return _render(template or DEFAULT_ERROR_TEMPLATE, _values(err, support)).strip()


def render_interrupted_notice(
    err: UpstreamError | LocalError, *, template: str | None = None, support: str | None = None
) -> str:
    """A notice to append after the partial answer (which is kept as is).

    Starts with blank lines and a rule, so ``partial_text + notice`` reads well.
    """
    values = _values(err, support)
    if values["kind"] not in {kind.value for kind in _INTERRUPTED_KINDS}:
        values["title"] = "The answer was interrupted"
    return _render(template or DEFAULT_INTERRUPTED_TEMPLATE, values).rstrip()
