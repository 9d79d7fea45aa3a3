"""Claude caching and beta header, Gemini thinking budgets, endpoint choice, affinity keys."""

from __future__ import annotations

from typing import Any

import pytest

from pipe_service.transform.endpoint_choice import (
    choose_endpoint,
    looks_like_responses_unsupported,
)
from pipe_service.transform.model_family import apply_gemini_budget, cache_fields, family_headers
from pipe_service.transform.options import TransformOptions
from pipe_service.transform.session_affinity import affinity_key
from tests.transform.models import build, model

CLAUDE = model(slug="anthropic/claude-sonnet-4.5")
ROUTER_CLAUDE = model(slug="~anthropic/claude-sonnet-latest")
PRESET = model(slug="@preset/coder", variant_of="anthropic/claude-sonnet-4.5")
GEMINI = model(slug="google/gemini-2.5-pro")
GEMINI_3 = model(slug="google/gemini-3-pro")
OTHER = model(slug="openai/gpt-5")

CACHE_CASES: list[tuple[str, Any, TransformOptions, dict[str, Any]]] = [
    (
        "Claude gets a 5m breakpoint by default",
        CLAUDE,
        TransformOptions(),
        {"cache_control": {"type": "ephemeral", "ttl": "5m"}},
    ),
    (
        "the TTL setting",
        CLAUDE,
        TransformOptions(anthropic_prompt_cache_ttl="1h"),
        {"cache_control": {"type": "ephemeral", "ttl": "1h"}},
    ),
    (
        "router aliases count as Claude",
        ROUTER_CLAUDE,
        TransformOptions(),
        {"cache_control": {"type": "ephemeral", "ttl": "5m"}},
    ),
    (
        "presets inherit their base's family",
        PRESET,
        TransformOptions(),
        {"cache_control": {"type": "ephemeral", "ttl": "5m"}},
    ),
    ("switched off", CLAUDE, TransformOptions(anthropic_prompt_caching=False), {}),
    ("other families get nothing", OTHER, TransformOptions(), {}),
]


@pytest.mark.parametrize(
    ("rule", "target", "options", "expected"), CACHE_CASES, ids=[c[0] for c in CACHE_CASES]
)
def test_cache_fields(rule: str, target: Any, options: TransformOptions, expected: Any) -> None:
    assert cache_fields(target, options) == expected


HEADER = {"x-anthropic-beta": "interleaved-thinking-2025-05-14"}
HEADER_CASES: list[tuple[str, Any, TransformOptions, dict[str, Any], dict[str, str]]] = [
    (
        "Claude with reasoning",
        CLAUDE,
        TransformOptions(),
        {"reasoning": {"effort": "high"}},
        HEADER,
    ),
    ("Claude without reasoning", CLAUDE, TransformOptions(), {}, {}),
    (
        "Claude with reasoning off",
        CLAUDE,
        TransformOptions(),
        {"reasoning": {"effort": "none"}},
        {},
    ),
    (
        "switched off",
        CLAUDE,
        TransformOptions(anthropic_interleaved_thinking=False),
        {"reasoning": {"effort": "high"}},
        {},
    ),
    ("not Claude", OTHER, TransformOptions(), {"reasoning": {"effort": "high"}}, {}),
]


@pytest.mark.parametrize(
    ("rule", "target", "options", "payload", "expected"),
    HEADER_CASES,
    ids=[c[0] for c in HEADER_CASES],
)
def test_family_headers(
    rule: str, target: Any, options: TransformOptions, payload: dict[str, Any], expected: Any
) -> None:
    assert family_headers(target, options, payload) == expected


GEMINI_CASES: list[tuple[str, Any, TransformOptions, dict[str, Any], dict[str, Any]]] = [
    (
        "medium is the budget",
        GEMINI,
        TransformOptions(),
        {"effort": "medium", "summary": "auto"},
        {"max_tokens": 1024, "summary": "auto"},
    ),
    ("high doubles it", GEMINI, TransformOptions(), {"effort": "high"}, {"max_tokens": 2048}),
    (
        "minimal is a quarter",
        GEMINI,
        TransformOptions(gemini_thinking_budget=4000),
        {"effort": "minimal"},
        {"max_tokens": 1000},
    ),
    (
        "capped at 32768",
        GEMINI,
        TransformOptions(gemini_thinking_budget=32768),
        {"effort": "xhigh"},
        {"max_tokens": 32768},
    ),
    ("none stays none", GEMINI, TransformOptions(), {"effort": "none"}, {"effort": "none"}),
    (
        "a zero budget keeps the effort",
        GEMINI,
        TransformOptions(gemini_thinking_budget=0),
        {"effort": "high"},
        {"effort": "high"},
    ),
    ("Gemini 3 uses efforts", GEMINI_3, TransformOptions(), {"effort": "high"}, {"effort": "high"}),
]


@pytest.mark.parametrize(
    ("rule", "target", "options", "reasoning", "expected"),
    GEMINI_CASES,
    ids=[c[0] for c in GEMINI_CASES],
)
def test_gemini_budget(
    rule: str, target: Any, options: TransformOptions, reasoning: Any, expected: Any
) -> None:
    payload = {"reasoning": dict(reasoning)}
    apply_gemini_budget(payload, target, options)
    assert payload["reasoning"] == expected


def test_the_payload_carries_the_gemini_budget_and_the_claude_breakpoint() -> None:
    gemini = build({"messages": [{"role": "user", "content": "hi"}]}, GEMINI)
    claude = build({"messages": [{"role": "user", "content": "hi"}]}, CLAUDE)
    assert gemini["reasoning"]["max_tokens"] == 1024
    assert "effort" not in gemini["reasoning"]
    assert claude["cache_control"] == {"type": "ephemeral", "ttl": "5m"}


ENDPOINT_CASES: list[tuple[str, Any, TransformOptions, tuple[str, bool, bool]]] = [
    (
        "responses by default, fallback allowed",
        OTHER,
        TransformOptions(),
        ("responses", False, True),
    ),
    (
        "fallback switched off",
        OTHER,
        TransformOptions(auto_fallback_chat_completions=False),
        ("responses", False, False),
    ),
    (
        "chat by default",
        OTHER,
        TransformOptions(default_endpoint="chat_completions"),
        ("chat_completions", False, False),
    ),
    (
        "a chat glob forces chat",
        OTHER,
        TransformOptions(chat_completions_models=("openai/*",)),
        ("chat_completions", True, False),
    ),
    (
        "a responses glob wins over a chat glob",
        OTHER,
        TransformOptions(chat_completions_models=("openai/*",), responses_models=("openai/gpt-5",)),
        ("responses", True, False),
    ),
    (
        "a preset matches through its base",
        PRESET,
        TransformOptions(chat_completions_models=("anthropic/*",)),
        ("chat_completions", True, False),
    ),
]


@pytest.mark.parametrize(
    ("rule", "target", "options", "expected"), ENDPOINT_CASES, ids=[c[0] for c in ENDPOINT_CASES]
)
def test_endpoint_choice(
    rule: str, target: Any, options: TransformOptions, expected: tuple[str, bool, bool]
) -> None:
    choice = choose_endpoint(target, options)
    assert (choice.endpoint, choice.forced, choice.may_fall_back) == expected


UNSUPPORTED_CASES: list[tuple[str, int | None, Any, str, str | None, bool]] = [
    (
        "the simulator's refusal",
        400,
        400,
        "sim/chat-only is not supported on the Responses API; use /api/v1/chat/completions",
        None,
        True,
    ),
    ("an explicit code", 400, "unsupported_endpoint", "x", None, True),
    ("a 405", 405, None, "Method Not Allowed", None, True),
    (
        "text in the provider's raw detail",
        422,
        None,
        "Provider returned error",
        "responses api unsupported for this model",
        True,
    ),
    (
        "an ordinary bad request",
        400,
        "invalid_prompt",
        "Invalid Responses API request",
        None,
        False,
    ),
    ("unsupported but not about responses", 400, 400, "image input not supported", None, False),
    ("a rate limit", 429, 429, "responses not supported", None, False),
]


@pytest.mark.parametrize(
    ("rule", "status", "code", "message", "detail", "expected"),
    UNSUPPORTED_CASES,
    ids=[c[0] for c in UNSUPPORTED_CASES],
)
def test_looks_like_responses_unsupported(
    rule: str, status: int | None, code: Any, message: str, detail: str | None, expected: bool
) -> None:
    assert looks_like_responses_unsupported(status, code, message, detail) is expected


def test_affinity_keys_are_stable_per_chat_and_distinct_across_chats_and_secrets() -> None:
    secret = b"s" * 32
    assert affinity_key(secret, "chat-1") == affinity_key(secret, "chat-1")
    assert affinity_key(secret, "chat-1") != affinity_key(secret, "chat-2")
    assert affinity_key(secret, "chat-1") != affinity_key(b"t" * 32, "chat-1")
    assert "chat-1" not in affinity_key(secret, "chat-1").removeprefix("chat-")
    assert len(affinity_key(secret, "chat-1")) <= 256


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        affinity_key(b"", "chat-1")
