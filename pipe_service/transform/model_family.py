"""Model-family quirks: Claude prompt caching and interleaved thinking, Gemini thinking budgets.

* **Claude** (``anthropic/…``, also ``~anthropic/…`` router aliases and variants/presets whose
  base is a Claude model): ``cache_control: {type: "ephemeral", ttl}`` at the top level of the
  Responses request when prompt caching is on (the chat-completions rewrite turns it into
  per-block breakpoints); the ``x-anthropic-beta: interleaved-thinking-2025-05-14`` header when
  interleaved thinking is on and the request asks for reasoning.
* **Gemini 2.5** (``google/gemini-2.5…``), whose thinking is a token budget: the effort becomes
  ``reasoning.max_tokens`` = ``gemini_thinking_budget`` times the effort's factor
  (:data:`GEMINI_EFFORT_FACTORS`), capped at :data:`GEMINI_MAX_BUDGET`; a budget of 0 leaves the
  effort as it is.

Synopsis::

    payload.update(cache_fields(model, options))
    headers = family_headers(model, options, payload)
    apply_gemini_budget(payload, model, options)
"""

from __future__ import annotations

from typing import Any, Final

from pipe_service.catalog.capabilities import ModelCapabilities
from pipe_service.transform.options import TransformOptions

__all__ = [
    "ANTHROPIC_BETA_HEADER",
    "GEMINI_EFFORT_FACTORS",
    "GEMINI_MAX_BUDGET",
    "INTERLEAVED_THINKING_BETA",
    "apply_gemini_budget",
    "cache_fields",
    "family_headers",
    "is_claude",
    "is_gemini_budget_model",
]

ANTHROPIC_BETA_HEADER: Final = "x-anthropic-beta"
INTERLEAVED_THINKING_BETA: Final = "interleaved-thinking-2025-05-14"
GEMINI_MAX_BUDGET: Final = 32768
GEMINI_EFFORT_FACTORS: Final[dict[str, float]] = {
    "minimal": 0.25,
    "low": 0.5,
    "medium": 1.0,
    "high": 2.0,
    "xhigh": 4.0,
    "max": 4.0,
}


def _family_slug(model: ModelCapabilities) -> str:
    return model.base_slug.removeprefix("~").lower()


def is_claude(model: ModelCapabilities) -> bool:
    """An Anthropic model, by its (base) slug."""
    return _family_slug(model).startswith("anthropic/")


def is_gemini_budget_model(model: ModelCapabilities) -> bool:
    """A Gemini 2.5 model: thinking is set as a token budget."""
    return _family_slug(model).startswith("google/gemini-2.5")


def cache_fields(model: ModelCapabilities, options: TransformOptions) -> dict[str, Any]:
    """``cache_control`` for Claude when prompt caching is on; nothing otherwise."""
    if not options.anthropic_prompt_caching or not is_claude(model):
        return {}
    return {"cache_control": {"type": "ephemeral", "ttl": options.anthropic_prompt_cache_ttl}}


def family_headers(
    model: ModelCapabilities, options: TransformOptions, payload: dict[str, Any]
) -> dict[str, str]:
    """Extra HTTP headers for this model family (the Claude interleaved-thinking beta)."""
    reasoning = payload.get("reasoning")
    thinking = isinstance(reasoning, dict) and reasoning.get("effort") != "none"
    if options.anthropic_interleaved_thinking and is_claude(model) and thinking:
        return {ANTHROPIC_BETA_HEADER: INTERLEAVED_THINKING_BETA}
    return {}


def apply_gemini_budget(
    payload: dict[str, Any], model: ModelCapabilities, options: TransformOptions
) -> None:
    """Replace a Gemini 2.5 effort with its token budget (in place)."""
    reasoning = payload.get("reasoning")
    if not isinstance(reasoning, dict) or not is_gemini_budget_model(model):
        return
    effort = reasoning.get("effort")
    factor = GEMINI_EFFORT_FACTORS.get(effort) if isinstance(effort, str) else None
    if options.gemini_thinking_budget == 0 or factor is None:
        return
    budget = min(int(options.gemini_thinking_budget * factor), GEMINI_MAX_BUDGET)
    payload["reasoning"] = {
        "max_tokens": max(budget, 1),
        **{key: value for key, value in reasoning.items() if key != "effort"},
    }
