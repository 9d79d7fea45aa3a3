"""The Response object (reference §3) that frames every stream and is the non-stream body.

Request parameters are echoed back the way OpenRouter does, in wire key order.
"""

from __future__ import annotations

from typing import Any

from pipe_service.simulator.request_view import TurnRequest

_DEFAULT_TEXT = {"format": {"type": "text"}, "verbosity": "medium"}


def _reasoning_echo(turn: TurnRequest) -> dict[str, Any] | None:
    requested = turn.reasoning
    if requested is None:
        return None
    return {"effort": requested.get("effort"), "summary": requested.get("summary")} | {
        key: value for key, value in requested.items() if key not in {"effort", "summary"}
    }


def response_object(
    turn: TurnRequest,
    *,
    response_id: str,
    created_at: int,
    status: str,
    output: list[dict[str, Any]] | None = None,
    usage: dict[str, Any] | None = None,
    completed_at: int | None = None,
    error: dict[str, Any] | None = None,
    error_type: str | None = None,
) -> dict[str, Any]:
    body = turn.body
    requested_text = body.get("text")
    text: dict[str, Any] = requested_text if isinstance(requested_text, dict) else {}
    response: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "model": turn.model,
        "status": status,
        "completed_at": completed_at,
        "output": list(output or []),
        "error": error,
        "incomplete_details": None,
        "tools": body.get("tools") or [],
        "tool_choice": body.get("tool_choice", "auto"),
        "parallel_tool_calls": turn.parallel_tool_calls,
        "max_output_tokens": body.get("max_output_tokens"),
        "temperature": body.get("temperature", 1),
        "top_p": body.get("top_p", 1),
        "presence_penalty": body.get("presence_penalty", 0),
        "frequency_penalty": body.get("frequency_penalty", 0),
        "top_logprobs": body.get("top_logprobs", 0),
        "max_tool_calls": body.get("max_tool_calls"),
        "metadata": body.get("metadata") or {},
        "background": False,
        "previous_response_id": None,
        "service_tier": body.get("service_tier") or "default",
        "truncation": body.get("truncation") or "disabled",
        "store": False,
        "instructions": body.get("instructions"),
        "text": _DEFAULT_TEXT | text,
        "reasoning": _reasoning_echo(turn),
        "safety_identifier": body.get("safety_identifier"),
        "prompt_cache_key": body.get("prompt_cache_key"),
        "prompt_cache_options": body.get("prompt_cache_options"),
        "usage": usage,
    }
    if error_type is not None:
        response["error_type"] = error_type
    return response
