"""Parsing of OpenRouter's error bodies and of ``Retry-After`` values.

OpenRouter answers errors in several shapes (all handled here, never trusted):

* the generic envelope ``{"error": {"code": 429, "message": ..., "metadata": {...}}}``
  where ``metadata`` may carry ``raw``, ``provider_name``, moderation ``reasons``
  and ``flagged_input``, or rate-limit ``headers``;
* the Responses validation form ``{"error": {"code": "invalid_prompt", ...},
  "metadata": {"raw": ...}}`` with a *string* code and a *top-level* metadata;
* the availability form ``{"error": {"message", "error_type", "http_status",
  "availability": {"code", "retryable", "retry_after", ...}, "metadata":
  {"previous_errors": [...]}}}``;
* anything else (HTML from a proxy, truncated JSON, an empty body), which still
  yields a readable message with a short, sanitised excerpt.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EXCERPT_CHARS", "ParsedEnvelope", "parse_error_body", "retry_after_s"]

EXCERPT_CHARS = 200
"""How much of an unparseable body is quoted in the error message."""

_MAX_LIST_ITEMS = 10


@dataclass(frozen=True)
class ParsedEnvelope:
    """The fields of an error body that the gateway uses; every one optional."""

    message: str
    code: str | int | None = None
    error_type: str | None = None
    provider_name: str | None = None
    moderation_reasons: tuple[str, ...] = ()
    flagged_input: str | None = None
    rate_limit_headers: Mapping[str, str] = field(default_factory=dict)
    availability_code: str | None = None
    retryable: bool | None = None
    retry_after_s: float | None = None
    detail: str | None = None


def _excerpt(body: bytes) -> str:
    text = body[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def retry_after_s(value: str | None, *, now: float | None = None) -> float | None:
    """Parse a ``Retry-After`` header: delta-seconds or an HTTP-date.

    Returns seconds to wait (never negative), or None when absent or garbled.
    ``now`` is the epoch time an HTTP-date is measured from (default: wall clock).

    Synopsis::

        retry_after_s("7") == 7.0
        retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT", now=...)  # seconds until then
    """
    if value is None or not value.strip():
        return None
    seconds = _seconds(value.strip())
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError):
        return None
    reference = time.time() if now is None else now
    return max(when.timestamp() - reference, 0.0)


def _raw_detail(raw: object) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return raw or None
    return json.dumps(raw, ensure_ascii=False, default=str)[: EXCERPT_CHARS * 5]


def _previous_errors_detail(previous: object) -> str | None:
    if not isinstance(previous, list) or not previous:
        return None
    parts = []
    for item in previous[:_MAX_LIST_ITEMS]:
        entry = _dict(item)
        provider = entry.get("provider") or "provider"
        status = entry.get("status") or entry.get("code") or "?"
        parts.append(f"{provider}: {status}")
    return "previous attempts: " + ", ".join(parts)


def _string_tuple(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(str(item)[:100] for item in value[:_MAX_LIST_ITEMS] if item is not None)


def _rate_limit_headers(metadata: Mapping[str, Any]) -> dict[str, str]:
    headers = _dict(metadata.get("headers"))
    return {
        str(name): str(value)
        for name, value in headers.items()
        if str(name).lower().startswith("x-ratelimit-")
    }


def _body_retry_after(metadata: Mapping[str, Any], availability: Mapping[str, Any]) -> float | None:
    for candidate in (availability.get("retry_after"), metadata.get("retry_after")):
        seconds = _seconds(candidate)
        if seconds is not None:
            return seconds
    headers = {str(k).lower(): v for k, v in _dict(metadata.get("headers")).items()}
    return _seconds(headers.get("retry-after"))


def _unparseable(status: int, body: bytes) -> ParsedEnvelope:
    if not body.strip():
        return ParsedEnvelope(message=f"OpenRouter answered HTTP {status} with an empty body")
    return ParsedEnvelope(
        message=f"OpenRouter answered HTTP {status} with an unexpected body: {_excerpt(body)}"
    )


def parse_error_body(status: int, body: bytes) -> ParsedEnvelope:
    """Extract what is known from an error body; never raises."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _unparseable(status, body)
    if not isinstance(document, dict):
        return _unparseable(status, body)
    error = document.get("error")
    if isinstance(error, str) and error:
        return ParsedEnvelope(message=error)
    if not isinstance(error, dict):
        top_message = _str_or_none(document.get("message"))
        return ParsedEnvelope(message=top_message) if top_message else _unparseable(status, body)

    # The invalid_prompt form puts metadata next to "error"; the others inside it.
    metadata = _dict(error.get("metadata")) or _dict(document.get("metadata"))
    availability = _dict(error.get("availability"))
    code = error.get("code")
    message = _str_or_none(error.get("message")) or f"OpenRouter answered HTTP {status}"
    detail = _raw_detail(metadata.get("raw")) or _previous_errors_detail(
        metadata.get("previous_errors")
    )
    retryable = availability.get("retryable")
    return ParsedEnvelope(
        message=message,
        code=code if isinstance(code, str | int) and not isinstance(code, bool) else None,
        error_type=_str_or_none(error.get("error_type")),
        provider_name=_str_or_none(metadata.get("provider_name")),
        moderation_reasons=_string_tuple(metadata.get("reasons")),
        flagged_input=(_str_or_none(metadata.get("flagged_input")) or "")[:100] or None,
        rate_limit_headers=_rate_limit_headers(metadata),
        availability_code=_str_or_none(availability.get("code")),
        retryable=retryable if isinstance(retryable, bool) else None,
        retry_after_s=_body_retry_after(metadata, availability),
        detail=detail,
    )
