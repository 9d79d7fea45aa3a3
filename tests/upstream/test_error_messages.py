"""User-facing Markdown for every error kind, and template validation."""

from __future__ import annotations

import httpx
import pytest

from pipe_service.chat.error_messages import (
    DEFAULT_ERROR_TEMPLATE,
    LocalError,
    LocalErrorKind,
    render_error_markdown,
    render_interrupted_notice,
)
from pipe_service.config.error_templates import ErrorTemplateError, validate_error_template
from pipe_service.openrouter.errors import (
    UpstreamError,
    UpstreamErrorKind,
    classify_transport_error,
)

K = UpstreamErrorKind

CASES = [
    (
        UpstreamError(K.BAD_REQUEST, "Invalid Responses API request", status=400),
        ["rejected", "Invalid Responses API request"],
    ),
    (
        UpstreamError(K.UNAUTHORIZED, "User not found.", status=401),
        ["Authentication failed", "API key", "User not found."],
    ),
    (
        UpstreamError(K.PAYMENT_REQUIRED, "Insufficient credits", status=402),
        ["credits", "https://openrouter.ai/credits"],
    ),
    (
        UpstreamError(K.FORBIDDEN, "Request blocked", status=403, moderation_reasons=("violence",)),
        ["Blocked by moderation", "Reasons: violence"],
    ),
    (
        UpstreamError(K.FORBIDDEN, "Only management keys", status=403),
        ["Request blocked", "Only management keys"],
    ),
    (
        UpstreamError(K.NOT_FOUND, "No endpoints found", status=404),
        ["Model not available", "another model"],
    ),
    (UpstreamError(K.TIMEOUT, "Operation timed out", status=408), ["timed out", "try again"]),
    (UpstreamError(K.PAYLOAD_TOO_LARGE, "too big", status=413), ["too large", "Shorten"]),
    (
        UpstreamError(K.RATE_LIMITED, "Rate limit exceeded", status=429, retry_after_s=12.0),
        ["Rate limit", "try again in 12 seconds"],
    ),
    (
        UpstreamError(K.SERVER_ERROR, "Provider returned error", status=502, provider_name="Acme"),
        ["Provider trouble", "HTTP 502", "provider: Acme", "try again"],
    ),
    (
        UpstreamError(K.NETWORK, "could not connect", before_send=True),
        ["Connection problem", "could not connect"],
    ),
    (UpstreamError(K.STREAM_FAILED, "server_error"), ["interrupted", "regenerate"]),
    (
        UpstreamError(K.STREAM_INCOMPLETE, "ended early"),
        ["interrupted", "OpenRouter ended the stream before"],
    ),
    (UpstreamError(K.STALLED, "no data"), ["interrupted", "stopped sending"]),
    (LocalError(LocalErrorKind.BUSY, retry_after_s=5), ["Server busy", "try again in 5 seconds"]),
    (
        LocalError(LocalErrorKind.INVALID_REQUEST, "model is required"),
        ["Invalid request", "model is required"],
    ),
    (LocalError(LocalErrorKind.INTERNAL), ["Internal error", "administrator"]),
]


@pytest.mark.parametrize(("err", "words"), CASES, ids=lambda value: getattr(value, "kind", ""))
def test_every_kind_renders_its_explanation_and_error_id(
    err: UpstreamError | LocalError, words: list[str]
) -> None:
    text = render_error_markdown(err)
    assert text.startswith("### ⚠️ ")
    for word in words:
        assert word in text
    assert f"Error ID: {err.error_id}" in text
    assert "\n\n\n" not in text


def test_every_upstream_kind_has_copy() -> None:
    for kind in UpstreamErrorKind:
        assert render_error_markdown(UpstreamError(kind, "x")).startswith("### ⚠️ ")


def test_upstream_text_cannot_inject_html() -> None:
    err = UpstreamError(K.BAD_REQUEST, "<script>alert(1)</script>")
    text = render_error_markdown(err)
    assert "<script>" not in text
    assert "&lt;script&gt;" in text


def test_long_retry_after_is_shown_in_minutes() -> None:
    err = UpstreamError(K.RATE_LIMITED, "slow", retry_after_s=3600)
    assert "about 60 minutes" in render_error_markdown(err)


def test_custom_template_is_used() -> None:
    err = UpstreamError(K.PAYMENT_REQUIRED, "no money", status=402)
    text = render_error_markdown(err, template="{kind}|{status}|{error_id}|{{literal}}")
    assert text == f"payment_required|402|{err.error_id}|{{literal}}"


def test_interrupted_notice_follows_the_partial_text() -> None:
    err = UpstreamError(K.STREAM_FAILED, "server_error")
    partial = "Here is the first half of the answer"
    combined = partial + render_interrupted_notice(err)
    assert combined.startswith(partial + "\n\n---\n\n")
    assert "The answer was interrupted" in combined
    assert f"Error ID: {err.error_id}" in combined


def test_interrupted_notice_for_a_network_drop_says_interrupted() -> None:
    notice = render_interrupted_notice(UpstreamError(K.NETWORK, "reset"))
    assert "The answer was interrupted" in notice


def test_default_templates_are_valid() -> None:
    validate_error_template(DEFAULT_ERROR_TEMPLATE)


@pytest.mark.parametrize(
    ("template", "complaint"),
    [
        ("{title} {user_email}", "unknown placeholder {user_email}"),
        ("{title:>20}", "format spec"),
        ("{title!r}", "conversion"),
        ("{message.upper}", "unknown placeholder"),
        ("{title", "malformed"),
        ("{}", "unknown placeholder {}"),
    ],
)
def test_invalid_templates_are_rejected_with_a_clear_reason(template: str, complaint: str) -> None:
    with pytest.raises(ErrorTemplateError, match=r"error template") as caught:
        validate_error_template(template)
    assert complaint in str(caught.value)


def test_rendering_with_an_invalid_template_raises_config_error() -> None:
    with pytest.raises(ErrorTemplateError):
        render_error_markdown(UpstreamError(K.NETWORK, "x"), template="{nope}")


def test_a_dropped_upstream_connection_blames_the_network_not_openrouter() -> None:
    dropped = classify_transport_error(httpx.RemoteProtocolError("peer closed"), mid_stream=True)
    notice = render_interrupted_notice(dropped)
    assert "network" in notice
    assert "OpenRouter said" not in notice
    assert "Details: connection to OpenRouter failed mid-stream" in notice


def test_a_shutdown_cut_names_the_sidecar_not_the_provider() -> None:
    cut = LocalError(LocalErrorKind.SHUTTING_DOWN)
    for text in (render_interrupted_notice(cut), render_error_markdown(cut)):
        assert "sidecar is restarting" in text
        assert "provider failed" not in text
        assert "OpenRouter said" not in text


def test_what_openrouter_reported_is_quoted_as_openrouter() -> None:
    failed = UpstreamError(K.STREAM_FAILED, "overloaded", provider_name="Acme")
    assert "> OpenRouter said (provider: Acme): overloaded" in render_interrupted_notice(failed)
    assert "provider failed" in render_interrupted_notice(failed)


def test_a_stall_names_openrouter_and_the_model() -> None:
    stalled = classify_transport_error(httpx.ReadTimeout("read"), mid_stream=True)
    notice = render_interrupted_notice(stalled)
    assert "Neither OpenRouter nor the model sent anything" in notice
    assert "OpenRouter said" not in notice
