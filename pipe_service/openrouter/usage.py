"""What one upstream response cost: tokens and money as OpenRouter reports them.

A plain value: the translators build it from a response's ``usage`` object, the chat turn sums it
over a tool loop, the request trace keeps it for the end-of-request log line and metrics.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Usage:
    """Token and cost accounting of one upstream response (or a sum over a tool loop)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cost: float | None = None
    cache_write_tokens: int = 0
    web_search_requests: int = 0
    is_byok: bool = False

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        """Sum two usages (tool loops make several upstream calls per turn)."""
        if not isinstance(other, Usage):
            return NotImplemented
        if self.cost is None and other.cost is None:
            cost: float | None = None
        else:
            cost = (self.cost or 0.0) + (other.cost or 0.0)
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            cost=cost,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            web_search_requests=self.web_search_requests + other.web_search_requests,
            is_byok=self.is_byok or other.is_byok,
        )
