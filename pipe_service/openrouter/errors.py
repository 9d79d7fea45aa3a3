"""Upstream errors as values: one exception type, classified by kind.

Every failure talking to OpenRouter becomes an :class:`UpstreamError` with a
:class:`UpstreamErrorKind`, the HTTP status when there was one, the upstream
message (length-bounded, never the request payload), and a short ``error_id``
the user can quote to support. :func:`classify_http_error` reads every error
envelope OpenRouter is known to send (see ``docs/upstream.md``);
:func:`classify_transport_error` maps httpx transport failures.

Synopsis::

    err = classify_http_error(429, {"Retry-After": "7"}, body)
    assert err.kind is UpstreamErrorKind.RATE_LIMITED and err.retry_after_s == 7.0
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Mapping

import httpx

from pipe_service.openrouter.error_envelope import ParsedEnvelope, parse_error_body, retry_after_s

__all__ = [
    "MAX_MESSAGE_CHARS",
    "UpstreamError",
    "UpstreamErrorKind",
    "classify_http_error",
    "classify_transport_error",
    "new_error_id",
]

MAX_MESSAGE_CHARS = 500
"""Upstream messages longer than this are cut (with an ellipsis) before they are stored."""


class UpstreamErrorKind(enum.StrEnum):
    """What went wrong, at the granularity the user message and the retry rule need."""

    BAD_REQUEST = "bad_request"  # 400, 422 and other 4xx not listed below
    UNAUTHORIZED = "unauthorized"  # 401, or no API key configured
    PAYMENT_REQUIRED = "payment_required"  # 402
    FORBIDDEN = "forbidden"  # 403, including moderation and guardrail blocks
    NOT_FOUND = "not_found"  # 404: unknown model, no endpoints, deprecated
    TIMEOUT = "timeout"  # 408, or our read/write timeout before the response started
    PAYLOAD_TOO_LARGE = "payload_too_large"  # 413
    RATE_LIMITED = "rate_limited"  # 429
    SERVER_ERROR = "server_error"  # 5xx (incl. 524/529) and unexpected statuses
    NETWORK = "network"  # connect failures, resets, dropped connections
    STREAM_FAILED = "stream_failed"  # a response.failed / error event mid-stream
    STREAM_INCOMPLETE = "stream_incomplete"  # the stream ended without a completion event
    STALLED = "stalled"  # no bytes for read_timeout_s after the stream started


_STATUS_KINDS: Mapping[int, UpstreamErrorKind] = {
    401: UpstreamErrorKind.UNAUTHORIZED,
    402: UpstreamErrorKind.PAYMENT_REQUIRED,
    403: UpstreamErrorKind.FORBIDDEN,
    404: UpstreamErrorKind.NOT_FOUND,
    408: UpstreamErrorKind.TIMEOUT,
    413: UpstreamErrorKind.PAYLOAD_TOO_LARGE,
    429: UpstreamErrorKind.RATE_LIMITED,
}

_ALWAYS_RETRYABLE = frozenset({UpstreamErrorKind.RATE_LIMITED, UpstreamErrorKind.SERVER_ERROR})
_RETRYABLE_BEFORE_SEND = frozenset({UpstreamErrorKind.NETWORK, UpstreamErrorKind.TIMEOUT})


def new_error_id() -> str:
    """Return a fresh support id such as ``err_3f9a0c1d`` (32 random bits)."""
    return f"err_{secrets.token_hex(4)}"


def _bounded(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class UpstreamError(Exception):
    """A failed upstream call, as a value the caller can render, retry or log.

    ``message`` is what OpenRouter (or the transport) said, bounded to
    :data:`MAX_MESSAGE_CHARS`; it never contains the request payload or a key.
    ``before_send`` is True only when the request provably never reached
    OpenRouter (connect failure, pool timeout, a local check): such errors are
    safe to retry whatever their kind.
    """

    def __init__(
        self,
        kind: UpstreamErrorKind,
        message: str,
        *,
        status: int | None = None,
        code: str | int | None = None,
        error_type: str | None = None,
        retry_after_s: float | None = None,
        provider_name: str | None = None,
        moderation_reasons: tuple[str, ...] = (),
        flagged_input: str | None = None,
        rate_limit_headers: Mapping[str, str] | None = None,
        availability_code: str | None = None,
        upstream_retryable: bool | None = None,
        detail: str | None = None,
        before_send: bool = False,
        local: bool = False,
        error_id: str | None = None,
    ) -> None:
        self.kind = kind
        self.message = _bounded(message)
        self.status = status
        self.code = code
        self.error_type = error_type
        self.retry_after_s = retry_after_s
        self.provider_name = provider_name
        self.moderation_reasons = moderation_reasons
        self.flagged_input = flagged_input
        self.rate_limit_headers: Mapping[str, str] = dict(rate_limit_headers or {})
        self.availability_code = availability_code
        self.upstream_retryable = upstream_retryable
        self.detail = None if detail is None else _bounded(detail, 2 * MAX_MESSAGE_CHARS)
        self.before_send = before_send
        self.local = local
        self.error_id = error_id or new_error_id()
        super().__init__(self.message)

    @property
    def retryable(self) -> bool:
        """True when sending the same request again may succeed.

        429 and 5xx are retryable unless OpenRouter's availability block says
        ``retryable: false``; network errors and timeouts only when the request
        never left (``before_send``). Everything else is a property of the
        request or the account and would fail again.
        """
        if self.upstream_retryable is False:
            return False
        if self.kind in _ALWAYS_RETRYABLE:
            return True
        return self.before_send and self.kind in _RETRYABLE_BEFORE_SEND

    def __str__(self) -> str:
        status = f" HTTP {self.status}" if self.status is not None else ""
        return f"{self.kind.value}{status}: {self.message} ({self.error_id})"

    def __repr__(self) -> str:
        return (
            f"UpstreamError(kind={self.kind.value!r}, status={self.status!r}, "
            f"code={self.code!r}, error_id={self.error_id!r})"
        )


def _kind_for_status(status: int) -> UpstreamErrorKind:
    if status in _STATUS_KINDS:
        return _STATUS_KINDS[status]
    if status >= 500:
        return UpstreamErrorKind.SERVER_ERROR
    if 400 <= status < 500:
        return UpstreamErrorKind.BAD_REQUEST
    # 1xx/2xx/3xx where an error was expected: the base URL points at something
    # that is not OpenRouter (a redirecting proxy, a login page).
    return UpstreamErrorKind.SERVER_ERROR


def classify_http_error(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
) -> UpstreamError:
    """Turn a non-2xx response into an :class:`UpstreamError`.

    Reads the integer-code envelope, the string-code ``invalid_prompt`` form
    with top-level ``metadata.raw``, the availability form and moderation
    metadata; a non-JSON or unexpected body still yields a clear message with a
    short excerpt. ``headers`` lookups are case-insensitive when given an
    ``httpx.Headers``; plain dicts are normalised here. ``now`` (epoch seconds)
    only matters for an HTTP-date ``Retry-After`` and exists for tests.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    parsed: ParsedEnvelope = parse_error_body(status, body)
    rate_limit = {
        name: value for name, value in headers.items() if name.lower().startswith("x-ratelimit-")
    } or parsed.rate_limit_headers
    wait = retry_after_s(lowered.get("retry-after"), now=now)
    if wait is None:
        wait = parsed.retry_after_s
    return UpstreamError(
        _kind_for_status(status),
        parsed.message,
        status=status,
        code=parsed.code,
        error_type=parsed.error_type,
        retry_after_s=wait,
        provider_name=parsed.provider_name,
        moderation_reasons=parsed.moderation_reasons,
        flagged_input=parsed.flagged_input,
        rate_limit_headers=rate_limit,
        availability_code=parsed.availability_code,
        upstream_retryable=parsed.retryable,
        detail=parsed.detail,
    )


def classify_transport_error(exc: httpx.HTTPError, *, mid_stream: bool = False) -> UpstreamError:
    """Map an httpx transport failure to an :class:`UpstreamError`.

    ``mid_stream`` is True once the 200 arrived: a read timeout there means the
    stream *stalled*, and nothing is retryable because the request was served.
    """
    name = type(exc).__name__
    if isinstance(exc, httpx.PoolTimeout):
        return UpstreamError(
            UpstreamErrorKind.NETWORK,
            "all upstream connections are busy (pool timeout)",
            before_send=True,
        )
    if isinstance(exc, httpx.ConnectTimeout):
        return UpstreamError(
            UpstreamErrorKind.NETWORK, "timed out connecting to OpenRouter", before_send=True
        )
    if isinstance(exc, httpx.ConnectError):
        return UpstreamError(
            UpstreamErrorKind.NETWORK,
            f"could not connect to OpenRouter ({_bounded(str(exc), 160) or name})",
            before_send=True,
        )
    if isinstance(exc, httpx.ReadTimeout):
        if mid_stream:
            return UpstreamError(
                UpstreamErrorKind.STALLED, "the upstream stream stopped sending data"
            )
        return UpstreamError(
            UpstreamErrorKind.TIMEOUT, "OpenRouter did not start answering in time"
        )
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamError(UpstreamErrorKind.TIMEOUT, f"upstream I/O timed out ({name})")
    where = "mid-stream" if mid_stream else "before the response"
    detail = _bounded(str(exc), 160) or name
    return UpstreamError(
        UpstreamErrorKind.NETWORK, f"connection to OpenRouter failed {where} ({detail})"
    )
