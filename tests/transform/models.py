"""Synthetic model capabilities and small body builders for the transform tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pipe_service.catalog.capabilities import ModelCapabilities, capabilities_from_row
from pipe_service.transform.payload import TransformOptions, build_responses_payload

ALL_PARAMETERS = [
    "temperature", "top_p", "top_k", "presence_penalty", "frequency_penalty", "max_tokens",
    "tools", "tool_choice", "parallel_tool_calls", "structured_outputs", "response_format",
    "reasoning", "include_reasoning", "verbosity", "seed", "stop",
]  # fmt: skip

# A model that supports everything: rules are then about the body and the options.
FULL = capabilities_from_row(
    {
        "id": "acme/full",
        "architecture": {"input_modalities": ["text", "image", "file", "audio", "video"]},
        "top_provider": {"max_completion_tokens": 8000},
        "supported_parameters": ALL_PARAMETERS,
        "pricing": {"prompt": "0.000001", "completion": "0.000002"},
    }
)
# A model that supports nothing beyond plain text.
BARE = capabilities_from_row({"id": "acme/bare", "architecture": {"input_modalities": ["text"]}})


def model(**changes: Any) -> ModelCapabilities:
    """FULL with some capabilities changed."""
    return replace(FULL, **changes)


def user_says(text: str = "hi") -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def body(**fields: Any) -> dict[str, Any]:
    """A minimal valid chat body plus ``fields``."""
    return {"model": "pipe.acme__full", "messages": user_says(), **fields}


def build(
    request: dict[str, Any],
    caps: ModelCapabilities = FULL,
    options: TransformOptions | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    return build_responses_payload(
        request, model=caps, options=options or TransformOptions(), **kwargs
    )
