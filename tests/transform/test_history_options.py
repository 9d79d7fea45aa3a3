"""Seed options for Claude's prompt cache and interleaved-thinking header and Gemini's thinking
budget."""

from __future__ import annotations

from pipe_service.transform.options import TransformOptions
from pipe_service.transform.payload import upstream_headers
from tests.transform.models import BARE, body, build, model

CLAUDE = model(slug="anthropic/claude-x")


def test_claude_gets_cache_control_when_prompt_caching_is_on() -> None:
    options = TransformOptions(anthropic_prompt_caching=True, anthropic_prompt_cache_ttl="1h")
    payload = build(body(), CLAUDE, options=options)
    assert payload["cache_control"] == {"type": "ephemeral", "ttl": "1h"}


def test_other_models_get_no_cache_control() -> None:
    options = TransformOptions(anthropic_prompt_caching=True)
    assert "cache_control" not in build(body(), options=options)


def test_claude_router_alias_counts_as_claude() -> None:
    options = TransformOptions(anthropic_prompt_caching=True)
    assert "cache_control" in build(body(), model(slug="~anthropic/claude-x"), options=options)


def test_interleaved_thinking_is_a_header_for_reasoning_claude_models() -> None:
    options = TransformOptions(anthropic_interleaved_thinking=True)
    assert upstream_headers(CLAUDE, options) == {
        "x-anthropic-beta": "interleaved-thinking-2025-05-14"
    }
    assert upstream_headers(CLAUDE, TransformOptions()) == {}
    assert upstream_headers(BARE, options) == {}


GEMINI = model(slug="google/gemini-2.5-pro")


def test_a_gemini_budget_is_sent_as_reasoning_max_tokens_scaled_by_effort() -> None:
    options = TransformOptions(gemini_thinking_budget=1024, reasoning_effort="high")
    assert build(body(), GEMINI, options=options)["reasoning"]["max_tokens"] == 2048


def test_a_zero_gemini_budget_turns_thinking_off() -> None:
    options = TransformOptions(gemini_thinking_budget=0)
    assert build(body(), GEMINI, options=options)["reasoning"]["effort"] == "none"


def test_other_models_keep_the_effort() -> None:
    options = TransformOptions(gemini_thinking_budget=1024, reasoning_effort="high")
    assert build(body(), options=options)["reasoning"]["effort"] == "high"
