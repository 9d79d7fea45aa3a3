"""Parse a Responses ``usage`` object (OpenAI fields plus OpenRouter's cost extras).

Synopsis::

    usage = usage_from_responses(response.get("usage"))  # Usage | None
"""

from __future__ import annotations

from typing import Any

from pipe_service.chat.json_fields import as_dict, as_int, as_optional_float
from pipe_service.openrouter.usage import Usage


def usage_from_responses(raw: Any) -> Usage | None:
    """The :class:`Usage` of a Responses ``usage`` object, or ``None`` when it is absent.

    Reads ``input_tokens_details.cached_tokens`` / ``cache_write_tokens``,
    ``output_tokens_details.reasoning_tokens``, ``cost``, ``is_byok`` and the web-search count
    from ``server_tool_use_details`` (the spec's name) or ``server_tool_use`` (one doc page's).
    """
    if not isinstance(raw, dict):
        return None
    input_details = as_dict(raw.get("input_tokens_details"))
    output_details = as_dict(raw.get("output_tokens_details"))
    tool_use = as_dict(raw.get("server_tool_use_details")) or as_dict(raw.get("server_tool_use"))
    return Usage(
        input_tokens=as_int(raw.get("input_tokens")),
        output_tokens=as_int(raw.get("output_tokens")),
        cached_tokens=as_int(input_details.get("cached_tokens")),
        reasoning_tokens=as_int(output_details.get("reasoning_tokens")),
        cost=as_optional_float(raw.get("cost")),
        cache_write_tokens=as_int(input_details.get("cache_write_tokens")),
        web_search_requests=as_int(tool_use.get("web_search_requests")),
        is_byok=raw.get("is_byok") is True,
    )
