"""Which OpenRouter endpoint serves a model: ``/responses`` or ``/chat/completions``.

``responses_models`` globs win, then ``chat_completions_models``, then ``default_endpoint``.
A model named by either list is *forced* there: no automatic fallback moves it. An unforced
``/responses`` choice may fall back to chat when ``auto_fallback_chat_completions`` is on and
OpenRouter says the model or a feature is not supported on ``/responses``
(see :func:`looks_like_responses_unsupported`).

Synopsis::

    choice = choose_endpoint(model, options)
    if choice.may_fall_back: ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pipe_service.catalog.capabilities import ModelCapabilities
from pipe_service.catalog.filters import matches_allowlist
from pipe_service.transform.options import Endpoint, TransformOptions

__all__ = ["EndpointChoice", "choose_endpoint", "looks_like_responses_unsupported"]

_UNSUPPORTED_CODES: Final = frozenset(
    {"unsupported_endpoint", "unsupported_feature", "endpoint_not_supported",
     "responses_not_supported"}
)  # fmt: skip
_UNSUPPORTED_WORDS: Final = ("not supported", "unsupported", "does not support")


@dataclass(frozen=True, slots=True)
class EndpointChoice:
    endpoint: Endpoint
    forced: bool
    may_fall_back: bool


def choose_endpoint(model: ModelCapabilities, options: TransformOptions) -> EndpointChoice:
    """The endpoint for ``model`` (matched by slug, or a variant's base slug)."""

    def listed(patterns: tuple[str, ...]) -> bool:
        return matches_allowlist(model.slug, patterns) or matches_allowlist(
            model.base_slug, patterns
        )

    if options.responses_models and listed(options.responses_models):
        return EndpointChoice("responses", forced=True, may_fall_back=False)
    if options.chat_completions_models and listed(options.chat_completions_models):
        return EndpointChoice("chat_completions", forced=True, may_fall_back=False)
    endpoint = options.default_endpoint
    fallback = endpoint == "responses" and options.auto_fallback_chat_completions
    return EndpointChoice(endpoint, forced=False, may_fall_back=fallback)


def looks_like_responses_unsupported(
    status: int | None, code: object, message: str, detail: str | None
) -> bool:
    """OpenRouter's answer says ``/responses`` cannot serve this model or feature.

    A 404/405 without an availability code (the route itself is missing), an explicit
    unsupported code, or a 400/422 whose text says "not supported"/"unsupported" and names the
    Responses API.
    """
    if isinstance(code, str) and code.lower() in _UNSUPPORTED_CODES:
        return True
    if status == 405:
        return True
    if status not in (400, 404, 422):
        return False
    text = f"{message} {detail or ''}".lower()
    return "respons" in text and any(word in text for word in _UNSUPPORTED_WORDS)
