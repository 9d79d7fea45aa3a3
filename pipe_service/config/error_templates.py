"""The vocabulary of operator error templates: the failure kinds a template may be set for, the
placeholders a template may use, and the check that a template renders safely.

Part of the settings contract (``[messages]`` is validated with it when the settings load); the
chat part renders templates with the same names (``chat.error_messages``) and maps each error to
its kind (``chat.failure_kinds``).
"""

from __future__ import annotations

import re
import string
from typing import Final, Literal, get_args

__all__ = [
    "CONDITIONAL_BLOCK",
    "FAILURE_KINDS",
    "TEMPLATE_PLACEHOLDERS",
    "ErrorTemplateError",
    "FailureKind",
    "validate_error_template",
]

FailureKind = Literal[
    "rate_limit",
    "auth",
    "credits",
    "moderation",
    "forbidden",
    "context_too_long",
    "payload_too_large",
    "bad_request",
    "model_unavailable",
    "restricted_model",
    "provider_down",
    "timeout",
    "network",
    "interrupted",
    "busy",
    "slow_down",
    "invalid_request",
    "internal",
    "shutting_down",
    "tool_host_gone",
]
FAILURE_KINDS: Final[tuple[str, ...]] = get_args(FailureKind)

TEMPLATE_PLACEHOLDERS = frozenset(
    {
        "title",
        "message",
        "explanation",
        "detail",
        "retry_hint",
        "error_id",
        "status",
        "kind",
        "retry_after",
        "provider",
        "timestamp",
        "support",
        # The seed pipe's names, so its templates carry over.
        "openrouter_code",
        "openrouter_message",
        "retry_after_seconds",
        "rate_limit_type",
    }
)
# The seed's conditional blocks: kept when the named placeholder is not empty.
CONDITIONAL_BLOCK = re.compile(r"\{\{#if (\w+)\}\}(.*?)\{\{/if\}\}", re.DOTALL)


class ErrorTemplateError(ValueError):
    """An error template that cannot be rendered (names the problem and the fix)."""


def validate_error_template(template: str) -> None:
    """Raise :class:`ErrorTemplateError` unless ``template`` renders safely.

    Only the names in :data:`TEMPLATE_PLACEHOLDERS` are allowed, without
    format specs, conversions, attributes or indexes; literal braces are
    written ``{{`` and ``}}``. ``{{#if name}}…{{/if}}`` keeps its text only when
    ``{name}`` is not empty (the seed pipe's conditionals; not nested).
    """
    allowed = ", ".join(f"{{{name}}}" for name in sorted(TEMPLATE_PLACEHOLDERS))
    for condition in CONDITIONAL_BLOCK.finditer(template):
        if condition.group(1) not in TEMPLATE_PLACEHOLDERS:
            raise ErrorTemplateError(
                f"error template tests unknown placeholder {{{{#if {condition.group(1)}}}}}; "
                f"allowed: {allowed}"
            )
    body = CONDITIONAL_BLOCK.sub(lambda condition: condition.group(2), template)
    if "{{#if" in body or "{{/if}}" in body:
        raise ErrorTemplateError(
            "error template has an unclosed or nested {{#if …}} block; close each with {{/if}}"
        )
    try:
        fields = list(string.Formatter().parse(body))
    except ValueError as exc:
        raise ErrorTemplateError(
            f"error template is malformed ({exc}); write literal braces as '{{{{' and '}}}}'"
        ) from exc
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        if name not in TEMPLATE_PLACEHOLDERS:
            raise ErrorTemplateError(
                f"error template uses unknown placeholder {{{name}}}; allowed: {allowed}"
            )
        if spec or conversion:
            raise ErrorTemplateError(
                f"error template placeholder {{{name}}} may not have a format spec or conversion"
            )
