"""Scalar request fields: sampling, output limit, text format, reasoning, identifiers, routing.

Each helper validates the chat-body value (bad input raises :class:`RequestTransformError`)
and then decides, from the model's capabilities and the options, whether to send it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any, Final, TypeVar, get_args

from pipe_service.catalog.capabilities import ModelCapabilities
from pipe_service.transform.errors import RequestTransformError
from pipe_service.transform.options import (
    ReasoningEffort,
    RequestIdentity,
    TransformOptions,
    UserOverrides,
)

__all__ = [
    "MAX_ID_CHARS",
    "MAX_METADATA_KEY_CHARS",
    "MAX_METADATA_PAIRS",
    "MAX_METADATA_VALUE_CHARS",
    "identifier_fields",
    "max_output_tokens",
    "provider_field",
    "reasoning_fields",
    "sampling_fields",
    "sanitize_metadata",
    "text_field",
]

# OpenRouter limits on identifiers (reference §1.1).
MAX_ID_CHARS = 256
MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY_CHARS = 64
MAX_METADATA_VALUE_CHARS = 512

_SAMPLING_RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}
_EFFORTS: frozenset[str] = frozenset(get_args(ReasoningEffort))
_VERBOSITIES = frozenset({"low", "medium", "high"})
_T = TypeVar("_T")


def sampling_fields(body: Mapping[str, Any], model: ModelCapabilities) -> dict[str, Any]:
    """temperature, top_p, top_k and the penalties the model lists as supported."""
    fields: dict[str, Any] = {}
    for key, (low, high) in _SAMPLING_RANGES.items():
        value = body.get(key)
        if value is None:
            continue
        if not _is_number(value) or not low <= value <= high:
            raise RequestTransformError(key, f"must be a number from {low:g} to {high:g}")
        if model.supports(key):
            fields[key] = value
    top_k = body.get("top_k")
    if top_k is not None:
        if not _is_int(top_k) or top_k < 0:
            raise RequestTransformError("top_k", "must be a non-negative integer")
        if model.supports("top_k"):
            fields["top_k"] = top_k
    return fields


def max_output_tokens(
    body: Mapping[str, Any], model: ModelCapabilities, options: TransformOptions
) -> int | None:
    """``max_completion_tokens`` (else ``max_tokens``), clamped to the model and the cap.

    With no limit in the body, ``use_model_max_output_tokens`` supplies the model's own.
    ``None`` means: send no limit.
    """
    requested: int | None = None
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if value is None:
            continue
        if not _is_int(value) or value < 1:
            raise RequestTransformError(key, "must be a positive integer")
        requested = value
        break
    if requested is None and options.use_model_max_output_tokens:
        requested = model.max_output_tokens
    if requested is None or not (
        model.supports("max_tokens") or model.supports("max_completion_tokens")
    ):
        return None
    ceilings = [c for c in (model.max_output_tokens, options.max_output_tokens_cap) if c]
    return min([requested, *ceilings])


def text_field(
    body: Mapping[str, Any], model: ModelCapabilities, notes: list[str]
) -> dict[str, Any] | None:
    """``text: {format, verbosity}`` from ``response_format`` and ``verbosity``."""
    text: dict[str, Any] = {}
    text_format = _text_format(body.get("response_format"))
    if text_format is not None:
        if model.structured_outputs:
            text["format"] = text_format
        else:
            notes.append(f"response_format dropped: {model.slug} has no structured outputs")
    verbosity = body.get("verbosity")
    if verbosity is not None:
        if not isinstance(verbosity, str) or verbosity not in _VERBOSITIES:
            raise RequestTransformError("verbosity", "must be low, medium or high")
        if model.supports("verbosity"):
            text["verbosity"] = verbosity
    return text or None


def _text_format(raw: object) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise RequestTransformError("response_format", "must be an object with a 'type'")
    kind = raw.get("type")
    if kind in ("text", "json_object"):
        return {"type": kind}
    if kind != "json_schema":
        raise RequestTransformError(
            "response_format.type", f"must be text, json_object or json_schema, got {kind!r}"
        )
    spec = raw.get("json_schema")
    if not isinstance(spec, Mapping):
        raise RequestTransformError("response_format.json_schema", "must be an object")
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise RequestTransformError(
            "response_format.json_schema.name", "must be a non-empty string"
        )
    schema = spec.get("schema")
    if not isinstance(schema, Mapping):
        raise RequestTransformError("response_format.json_schema.schema", "must be an object")
    text_format: dict[str, Any] = {"type": "json_schema", "name": name, "schema": dict(schema)}
    description = spec.get("description")
    if description is not None:
        if not isinstance(description, str):
            raise RequestTransformError("response_format.json_schema.description", "not a string")
        text_format["description"] = description
    strict = spec.get("strict")
    if strict is not None:
        if not isinstance(strict, bool):
            raise RequestTransformError("response_format.json_schema.strict", "must be a boolean")
        text_format["strict"] = strict
    return text_format


def reasoning_fields(
    body: Mapping[str, Any],
    model: ModelCapabilities,
    options: TransformOptions,
    user: UserOverrides,
) -> dict[str, Any]:
    """``reasoning`` (and ``include``) for reasoning models.

    Effort precedence: the body's ``reasoning_effort`` (a per-chat setting), then the user's
    override when set, then the admin default. An explicit body effort also turns reasoning
    on; otherwise the user's ``reasoning_enabled`` (when set) beats the admin's.
    """
    body_effort = body.get("reasoning_effort")
    if body_effort is not None and (
        not isinstance(body_effort, str) or body_effort not in _EFFORTS
    ):
        raise RequestTransformError(
            "reasoning_effort", f"must be one of {', '.join(sorted(_EFFORTS))}"
        )
    enabled = _pick(user.reasoning_enabled, options.reasoning_enabled)
    if not model.reasoning or not (enabled or body_effort is not None):
        return {}
    effort = body_effort or _pick(user.reasoning_effort, options.reasoning_effort)
    if effort == "none":
        return {"reasoning": {"effort": "none"}}
    reasoning: dict[str, Any] = {"effort": effort}
    budget = options.gemini_thinking_budget
    if budget is not None and _is_gemini(model.slug):
        # The seed's GEMINI_THINKING_BUDGET: a token budget scaled by the effort instead of
        # the effort itself (OpenRouter's `reasoning.max_tokens`).
        tokens = int(budget * _GEMINI_BUDGET_SCALE[effort])
        reasoning = {"max_tokens": tokens} if tokens > 0 else {"effort": "none"}
    summary = _pick(user.reasoning_summary, options.reasoning_summary)
    if summary != "disabled":
        reasoning["summary"] = summary
    fields: dict[str, Any] = {"reasoning": reasoning}
    if options.include_encrypted_reasoning:
        fields["include"] = ["reasoning.encrypted_content"]
    return fields


_GEMINI_BUDGET_SCALE: Final = {
    "none": 0.0,
    "minimal": 0.25,
    "low": 0.5,
    "medium": 1.0,
    "high": 2.0,
    "xhigh": 4.0,
    "max": 8.0,
}


def _is_gemini(slug: str) -> bool:
    return slug.removeprefix("~").startswith("google/gemini")


def identifier_fields(
    options: TransformOptions, identity: RequestIdentity | None, notes: list[str]
) -> dict[str, Any]:
    """``user``, ``session_id`` and ``metadata``, each only when its option is on.

    Limits: an id over 256 characters is skipped, not truncated (a cut id could merge two
    users or chats). Metadata keeps at most 16 pairs; a key over 64 characters or holding
    ``[``/``]`` is skipped; a value is truncated to 512 characters (it is informational).
    """
    if identity is None:
        return {}
    fields: dict[str, Any] = {}
    end_user = {
        "id": identity.user_id,
        "email": identity.user_email,
        "name": identity.user_name,
    }[options.end_user_id_source]
    for enabled, key, value in (
        (options.send_user_id, "user", end_user),
        (options.send_session_id, "session_id", identity.session_id),
    ):
        if not enabled or not value:
            continue
        if len(value) > MAX_ID_CHARS:
            notes.append(f"{key} not sent: longer than {MAX_ID_CHARS} characters")
            continue
        fields[key] = value
    every = options.send_metadata
    chosen = {
        "user_id": identity.user_id if every else None,
        "chat_id": identity.chat_id if every or options.send_chat_id else None,
        "session_id": identity.session_id if every else None,
        "message_id": identity.message_id if every or options.send_message_id else None,
    }
    if any(chosen.values()):
        metadata = sanitize_metadata(chosen)
        if metadata:
            fields["metadata"] = metadata
    return fields


def sanitize_metadata(pairs: Mapping[str, str | None]) -> dict[str, str]:
    """Apply OpenRouter's metadata limits (see :func:`identifier_fields`)."""
    metadata: dict[str, str] = {}
    for key, value in pairs.items():
        if len(metadata) == MAX_METADATA_PAIRS:
            break
        if not value or not key or len(key) > MAX_METADATA_KEY_CHARS or "[" in key or "]" in key:
            continue
        metadata[key] = value[:MAX_METADATA_VALUE_CHARS]
    return metadata


def provider_field(
    options: TransformOptions, user: UserOverrides, slug: str = ""
) -> dict[str, Any] | None:
    """The ``provider`` object: admin routing (the model's own when one matches ``slug``), plus
    ``zdr`` when the user asks for it."""
    routing = options.provider_routing
    for pattern, model_routing in options.provider_routing_by_model.items():
        if slug == pattern or fnmatchcase(slug, pattern):
            routing = model_routing
            break
    provider = routing.to_payload() if routing else {}
    if user.request_zdr and options.allow_user_zdr:
        provider["zdr"] = True
    return provider or None


def _pick(user_value: _T | None, admin_value: _T) -> _T:
    return admin_value if user_value is None else user_value


def _is_number(value: object) -> bool:
    # bool is an int subclass; JSON true is not a temperature.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
