"""Error templates per failure kind: classification, validation at load, rendering."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipe_service.chat.error_messages import LocalError, LocalErrorKind, render_error_markdown
from pipe_service.chat.failure_kinds import failure_kind
from pipe_service.config.error_templates import FAILURE_KINDS
from pipe_service.config.settings import MessageSettings
from pipe_service.openrouter.errors import UpstreamError, UpstreamErrorKind

K = UpstreamErrorKind

KIND_CASES: list[tuple[str, UpstreamError | LocalError, str]] = [
    ("429", UpstreamError(K.RATE_LIMITED, "slow", status=429), "rate_limit"),
    ("401", UpstreamError(K.UNAUTHORIZED, "bad key", status=401), "auth"),
    ("402", UpstreamError(K.PAYMENT_REQUIRED, "no credits", status=402), "credits"),
    (
        "403 with moderation reasons",
        UpstreamError(K.FORBIDDEN, "flagged", status=403, moderation_reasons=("harassment",)),
        "moderation",
    ),
    ("403 without reasons", UpstreamError(K.FORBIDDEN, "no", status=403), "forbidden"),
    (
        "400 context_length_exceeded",
        UpstreamError(K.BAD_REQUEST, "x", status=400, error_type="context_length_exceeded"),
        "context_too_long",
    ),
    (
        "400 saying maximum context",
        UpstreamError(K.BAD_REQUEST, "This model's maximum context length is 8192", status=400),
        "context_too_long",
    ),
    ("plain 400", UpstreamError(K.BAD_REQUEST, "bad", status=400), "bad_request"),
    ("413", UpstreamError(K.PAYLOAD_TOO_LARGE, "big", status=413), "payload_too_large"),
    ("404", UpstreamError(K.NOT_FOUND, "no endpoints", status=404), "model_unavailable"),
    ("502", UpstreamError(K.SERVER_ERROR, "down", status=502), "provider_down"),
    ("408", UpstreamError(K.TIMEOUT, "slow", status=408), "timeout"),
    ("connect failure", UpstreamError(K.NETWORK, "refused"), "network"),
    ("mid-stream failure", UpstreamError(K.STREAM_FAILED, "boom"), "interrupted"),
    ("stall", UpstreamError(K.STALLED, "quiet"), "interrupted"),
    ("busy", LocalError(LocalErrorKind.BUSY), "busy"),
    ("hidden model", LocalError(LocalErrorKind.RESTRICTED_MODEL, "x"), "restricted_model"),
    ("bad body", LocalError(LocalErrorKind.INVALID_REQUEST, "x"), "invalid_request"),
    ("internal", LocalError(LocalErrorKind.INTERNAL), "internal"),
]


@pytest.mark.parametrize(
    ("case", "error", "kind"), KIND_CASES, ids=[case[0] for case in KIND_CASES]
)
def test_failure_kind(case: str, error: UpstreamError | LocalError, kind: str) -> None:
    assert failure_kind(error) == kind
    assert kind in FAILURE_KINDS


def test_every_error_kind_has_a_template_kind() -> None:
    for upstream_kind in UpstreamErrorKind:
        assert failure_kind(UpstreamError(upstream_kind, "x")) in FAILURE_KINDS
    for local_kind in LocalErrorKind:
        assert failure_kind(LocalError(local_kind)) in FAILURE_KINDS


def test_every_kind_can_have_its_own_template() -> None:
    settings = MessageSettings(templates={kind: f"[{kind}] {{error_id}}" for kind in FAILURE_KINDS})
    assert settings.template_for("rate_limit") == "[rate_limit] {error_id}"


def test_a_kind_without_its_own_template_uses_the_general_one() -> None:
    settings = MessageSettings(error_template="general {error_id}", templates={"auth": "a"})
    assert settings.template_for("rate_limit") == "general {error_id}"
    assert settings.template_for("interrupted") is None


def test_a_bad_template_is_refused_at_load_naming_its_kind_and_placeholder() -> None:
    with pytest.raises(ValidationError) as raised:
        MessageSettings(templates={"credits": "Top up: {balance}"})
    text = str(raised.value)
    assert "templates.credits" in text
    assert "{balance}" in text
    assert "{support}" in text  # the allowed list is part of the fix


def test_an_unknown_kind_is_refused_at_load() -> None:
    with pytest.raises(ValidationError, match="templates"):
        MessageSettings(templates={"rate-limited": "x"})


def test_the_support_line_and_new_placeholders_render() -> None:
    error = UpstreamError(
        K.RATE_LIMITED, "slow down", status=429, retry_after_s=7.2, provider_name="Acme"
    )
    text = render_error_markdown(
        error,
        template="{title} | wait {retry_after}s | {provider} | {timestamp} | {support}",
        support="Ask #help",
    )
    title, wait, provider, stamp, support = text.split(" | ")
    assert (title, wait, provider, support) == (
        "Rate limit reached",
        "wait 8s",
        "Acme",
        "Ask #help",
    )
    assert stamp.endswith("UTC")


def test_the_default_template_shows_the_support_line_only_when_set() -> None:
    error = UpstreamError(K.PAYMENT_REQUIRED, "no credits", status=402)
    assert "Contact" not in render_error_markdown(error)
    assert "\n\n\n" not in render_error_markdown(error)
    assert "Contact it@example.com" in render_error_markdown(
        error, support="Contact it@example.com"
    )


SEED_RATE_LIMIT_TEMPLATE = (
    "### Rate Limit Exceeded\n\n"
    "**Error ID:** `{error_id}`\n"
    "{{#if openrouter_code}}\n**Status:** {openrouter_code}\n{{/if}}\n"
    "{{#if retry_after_seconds}}\n**Retry after:** {retry_after_seconds}s\n{{/if}}\n"
    "{{#if rate_limit_type}}\n**Limit type:** {rate_limit_type}\n{{/if}}\n"
    "{{#if support}}\n**Support:** {support}\n{{/if}}\n"
)


def test_a_seed_template_with_conditionals_renders() -> None:
    error = UpstreamError(
        K.RATE_LIMITED,
        "Rate limit exceeded: free-models-per-day. Add 10 credits",
        status=429,
        code=429,
        retry_after_s=3,
    )
    text = render_error_markdown(error, template=SEED_RATE_LIMIT_TEMPLATE)
    assert "**Status:** 429" in text
    assert "**Retry after:** 3s" in text
    assert "**Limit type:** free-models-per-day" in text
    assert "Support" not in text  # no support line configured: the block is dropped
    assert "{{" not in text


def test_a_conditional_on_an_unknown_placeholder_is_refused() -> None:
    with pytest.raises(ValidationError, match="#if balance"):
        MessageSettings(templates={"credits": "{{#if balance}}x{{/if}}"})


@pytest.mark.parametrize(
    "template", ["{{#if support}}never closed", "{{#if support}}{{#if title}}x{{/if}}"]
)
def test_an_unbalanced_conditional_is_refused(template: str) -> None:
    with pytest.raises(ValidationError, match="unclosed or nested"):
        MessageSettings(templates={"auth": template})
