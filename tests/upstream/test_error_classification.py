"""classify_http_error / classify_transport_error over every known envelope.

Table-driven: each row is one body shape from OpenRouter's docs or real
captures (integer code, string ``invalid_prompt`` code with top-level
metadata, availability form, moderation, rate limit) plus garbage bodies.
"""

from __future__ import annotations

import json

import httpx
import pytest

from pipe_service.openrouter.error_envelope import EXCERPT_CHARS, retry_after_s
from pipe_service.openrouter.errors import (
    MAX_MESSAGE_CHARS,
    UpstreamErrorKind,
    classify_http_error,
    classify_transport_error,
)

K = UpstreamErrorKind


def _body(document: object) -> bytes:
    return json.dumps(document).encode()


STATUS_KINDS = [
    (400, K.BAD_REQUEST),
    (401, K.UNAUTHORIZED),
    (402, K.PAYMENT_REQUIRED),
    (403, K.FORBIDDEN),
    (404, K.NOT_FOUND),
    (408, K.TIMEOUT),
    (413, K.PAYLOAD_TOO_LARGE),
    (422, K.BAD_REQUEST),
    (429, K.RATE_LIMITED),
    (500, K.SERVER_ERROR),
    (502, K.SERVER_ERROR),
    (503, K.SERVER_ERROR),
    (524, K.SERVER_ERROR),
    (529, K.SERVER_ERROR),
    (302, K.SERVER_ERROR),
]


@pytest.mark.parametrize(("status", "kind"), STATUS_KINDS)
def test_status_maps_to_kind(status: int, kind: UpstreamErrorKind) -> None:
    body = _body({"error": {"code": status, "message": "boom"}})
    err = classify_http_error(status, {}, body)
    assert (err.kind, err.status, err.message, err.code) == (kind, status, "boom", status)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (400, False),
        (401, False),
        (402, False),
        (403, False),
        (404, False),
        (408, False),
        (413, False),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (524, True),
        (529, True),
    ],
)
def test_retryable_only_for_rate_limits_and_server_errors(status: int, retryable: bool) -> None:
    assert classify_http_error(status, {}, b"{}").retryable is retryable


ENVELOPES = [
    pytest.param(
        401,
        {"error": {"message": "No auth credentials found", "code": 401}},
        {"message": "No auth credentials found", "code": 401},
        id="integer-code",
    ),
    pytest.param(
        400,
        {
            "error": {"code": "invalid_prompt", "message": "Invalid Responses API request"},
            "metadata": {"raw": '[{"path":["input"],"message":"Required"}]'},
        },
        {
            "code": "invalid_prompt",
            "message": "Invalid Responses API request",
            "detail": '[{"path":["input"],"message":"Required"}]',
        },
        id="string-code-top-level-metadata",
    ),
    pytest.param(
        400,
        {"error": {"code": "invalid_prompt", "message": "Invalid request"}, "metadata": None},
        {"code": "invalid_prompt", "detail": None},
        id="string-code-null-metadata",
    ),
    pytest.param(
        503,
        {
            "error": {
                "message": "No provider available",
                "error_type": "provider_unavailable",
                "http_status": 503,
                "availability": {
                    "code": "no_available_providers",
                    "retryable": False,
                    "retry_after": 12,
                    "requested_models": ["a/b"],
                },
                "metadata": {"previous_errors": [{"provider": "P1", "code": 503, "status": 503}]},
            }
        },
        {
            "error_type": "provider_unavailable",
            "availability_code": "no_available_providers",
            "upstream_retryable": False,
            "retry_after_s": 12.0,
            "detail": "previous attempts: P1: 503",
            "retryable": False,
        },
        id="availability-form",
    ),
    pytest.param(
        404,
        {"error": {"message": "Model not found", "availability": {"code": "model_not_found"}}},
        {"availability_code": "model_not_found", "kind": K.NOT_FOUND},
        id="availability-not-found",
    ),
    pytest.param(
        403,
        {
            "error": {
                "code": 403,
                "message": "Request blocked: flagged",
                "metadata": {
                    "reasons": ["violence", "hate"],
                    "flagged_input": "x" * 300,
                    "provider_name": "Mod",
                    "model_slug": "a/b",
                },
            }
        },
        {
            "moderation_reasons": ("violence", "hate"),
            "flagged_input": "x" * 100,
            "provider_name": "Mod",
        },
        id="moderation",
    ),
    pytest.param(
        429,
        {
            "error": {
                "message": "Rate limit exceeded: free-models-per-day",
                "code": 429,
                "metadata": {
                    "headers": {
                        "X-RateLimit-Limit": "50",
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset": "1741305600000",
                    },
                    "provider_name": None,
                },
            }
        },
        {
            "rate_limit_headers": {
                "X-RateLimit-Limit": "50",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": "1741305600000",
            },
            "provider_name": None,
            "retry_after_s": None,
        },
        id="rate-limit-metadata-headers",
    ),
    pytest.param(
        502,
        {
            "error": {
                "code": 502,
                "message": "Provider returned error",
                "metadata": {"raw": {"detail": "upstream 500"}, "provider_name": "Acme"},
            }
        },
        {"detail": '{"detail": "upstream 500"}', "provider_name": "Acme"},
        id="provider-raw-object",
    ),
    pytest.param(
        500, {"error": "plain string error"}, {"message": "plain string error"}, id="string-error"
    ),
    pytest.param(
        500, {"message": "top-level message"}, {"message": "top-level message"}, id="top-message"
    ),
]


@pytest.mark.parametrize(("status", "document", "expected"), ENVELOPES)
def test_envelope_fields_are_extracted(
    status: int, document: object, expected: dict[str, object]
) -> None:
    err = classify_http_error(status, {}, _body(document))
    assert {name: getattr(err, name) for name in expected} == expected


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        pytest.param(
            b"<html><body>Bad gateway</body></html>", "<html><body>Bad gateway", id="html"
        ),
        pytest.param(b'{"error": {"code": 5', '{"error": {"code": 5', id="truncated-json"),
        pytest.param(b"[1, 2, 3]", "[1, 2, 3]", id="json-array"),
        pytest.param(b"\xff\xfe\x00garbage", "garbage", id="binary"),
        pytest.param(b"", "empty body", id="empty"),
    ],
)
def test_garbage_body_gives_clear_message_with_excerpt(body: bytes, fragment: str) -> None:
    err = classify_http_error(502, {}, body)
    assert err.kind is K.SERVER_ERROR
    assert "HTTP 502" in err.message
    assert fragment in err.message


def test_huge_garbage_body_is_excerpted() -> None:
    err = classify_http_error(500, {}, b"A" * 5_000_000)
    assert err.message.endswith("A…")
    assert err.message.count("A") == EXCERPT_CHARS - 1


def test_huge_upstream_message_is_bounded() -> None:
    err = classify_http_error(400, {}, _body({"error": {"code": 400, "message": "m" * 10_000}}))
    assert len(err.message) == MAX_MESSAGE_CHARS
    assert err.message.endswith("…")


def test_retry_after_header_seconds_wins_over_body() -> None:
    body = _body({"error": {"code": 429, "message": "x", "availability": {"retry_after": 99}}})
    err = classify_http_error(429, {"Retry-After": "7"}, body)
    assert err.retry_after_s == 7.0


def test_retry_after_http_date_is_seconds_from_now() -> None:
    now = 1_445_412_400.0  # Wed, 21 Oct 2015 07:26:40 GMT
    err = classify_http_error(429, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, b"", now=now)
    assert err.retry_after_s == 80.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("2.5", 2.5),
        ("-3", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_retry_after_parsing(value: str | None, expected: float | None) -> None:
    assert retry_after_s(value, now=2_000_000_000.0) == expected


def test_rate_limit_response_headers_are_kept() -> None:
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Limit": "20", "Server": "cf"}
    err = classify_http_error(429, headers, b"{}")
    assert err.rate_limit_headers == {"X-RateLimit-Remaining": "0", "X-RateLimit-Limit": "20"}


def test_error_ids_are_short_and_unique() -> None:
    ids = {classify_http_error(500, {}, b"").error_id for _ in range(200)}
    assert len(ids) == 200
    assert all(len(error_id) == 12 and error_id.startswith("err_") for error_id in ids)


_REQUEST = httpx.Request("POST", "https://openrouter.ai/api/v1/responses")

TRANSPORT = [
    (httpx.ConnectError("refused", request=_REQUEST), False, K.NETWORK, True),
    (httpx.ConnectTimeout("slow", request=_REQUEST), False, K.NETWORK, True),
    (httpx.PoolTimeout("full", request=_REQUEST), False, K.NETWORK, True),
    (httpx.ReadTimeout("quiet", request=_REQUEST), False, K.TIMEOUT, False),
    (httpx.ReadTimeout("quiet", request=_REQUEST), True, K.STALLED, False),
    (httpx.WriteTimeout("slow", request=_REQUEST), False, K.TIMEOUT, False),
    (httpx.RemoteProtocolError("incomplete", request=_REQUEST), True, K.NETWORK, False),
    (httpx.ReadError("reset", request=_REQUEST), False, K.NETWORK, False),
]


@pytest.mark.parametrize(("exc", "mid_stream", "kind", "retryable"), TRANSPORT)
def test_transport_error_kinds(
    exc: httpx.HTTPError, mid_stream: bool, kind: UpstreamErrorKind, retryable: bool
) -> None:
    err = classify_transport_error(exc, mid_stream=mid_stream)
    assert (err.kind, err.retryable, err.status) == (kind, retryable, None)
