"""Simulated provider prompt cache: what makes ``cached_tokens`` and ``cache_write_tokens`` real.

A request asks for caching with Anthropic-style ``cache_control`` (top level on ``/responses``,
on content blocks on chat-completions). The cache is keyed by the sticky routing key
(``session_id``, else ``user``) and the model, as a provider's cache lives on the provider
OpenRouter routed that key to: the first request writes its whole prompt to the cache, a later
one with the same key reads the shared prefix (approximated as the smaller of the two prompt
sizes) and writes the rest. Requests without ``cache_control`` neither read nor write.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

MAX_ENTRIES = 10_000


def wants_cache(body: dict[str, Any]) -> bool:
    """True when the body sets ``cache_control`` at the top level or on any content block."""
    if isinstance(body.get("cache_control"), dict):
        return True
    for collection in (body.get("input"), body.get("messages")):
        if not isinstance(collection, list):
            continue
        for item in collection:
            parts = item.get("content") if isinstance(item, dict) else None
            if isinstance(parts, list) and any(
                isinstance(part, dict) and isinstance(part.get("cache_control"), dict)
                for part in parts
            ):
                return True
    return False


class PromptCache:
    """Prompt sizes last written per (routing key, model); bounded, oldest forgotten first."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._sizes: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._max = max_entries

    def account(self, body: dict[str, Any], model: str, input_tokens: int) -> tuple[int, int]:
        """``(cached_tokens, cache_write_tokens)`` for this request, updating the cache."""
        if not wants_cache(body):
            return 0, 0
        key_value = body.get("session_id") or body.get("user") or ""
        key = (str(key_value), model)
        previous = self._sizes.pop(key, 0) if key_value else 0
        cached = min(previous, input_tokens)
        if key_value:
            self._sizes[key] = input_tokens
            while len(self._sizes) > self._max:
                self._sizes.popitem(last=False)
        return cached, input_tokens - cached
