"""Deterministic token estimates and the OpenRouter usage object (with ``cost``).

Tokens are estimated as ``ceil(chars / 4)``; each input image counts 85 tokens and each input file
250 tokens. Cost = input tokens x prompt price + output tokens x completion price + the per-request
price + web searches x web_search price, in USD, as a float.
"""

from __future__ import annotations

import math
from typing import Any

from pipe_service.simulator.catalog import ModelCard

IMAGE_TOKENS = 85
FILE_TOKENS = 250


def estimate_tokens(chars: int) -> int:
    return math.ceil(chars / 4) if chars > 0 else 0


def _usd(value: float) -> float:
    # Round away binary noise (0.1 + 0.2 style) so the JSON shows clean decimals.
    return round(value, 12)


def build_usage(
    card: ModelCard,
    *,
    input_tokens: int,
    output_tokens: int,
    reasoning_tokens: int,
    web_search_requests: int = 0,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> dict[str, Any]:
    """The ``usage`` object of ``response.completed`` in wire key order."""
    input_cost = input_tokens * card.prompt_price
    output_cost = output_tokens * card.completion_price
    cost = (
        input_cost + output_cost + card.request_price + web_search_requests * card.web_search_price
    )
    usage: dict[str, Any] = {
        "input_tokens": input_tokens,
        "input_tokens_details": {
            "cached_tokens": cached_tokens,
            "cache_write_tokens": cache_write_tokens,
        },
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
        "total_tokens": input_tokens + output_tokens,
        "cost": _usd(cost),
        "is_byok": False,
        "cost_details": {
            "upstream_inference_cost": _usd(cost),
            "upstream_inference_input_cost": _usd(input_cost),
            "upstream_inference_output_cost": _usd(output_cost),
        },
    }
    if web_search_requests:
        usage["server_tool_use_details"] = {"web_search_requests": web_search_requests}
    return usage
