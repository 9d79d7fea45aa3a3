"""Generation records for ``GET /api/v1/generation`` and usage totals for ``GET /api/v1/key``.

A record is stored when an answer ends (completed, failed or dropped), with the §6 fields in the
documented order. Bounded: the oldest records are forgotten first; the usage total is not.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipe_service.simulator.request_view import TurnRequest
from pipe_service.simulator.turn import Turn


@dataclass(frozen=True, slots=True)
class Outcome:
    """How the answer went out: streamed or not, cancelled, latency and generation time (ms)."""

    streamed: bool
    cancelled: bool
    latency_ms: int
    generation_time_ms: int


def _finish_reason(turn: Turn, cancelled: bool) -> str | None:
    if cancelled or turn.ending.kind == "dropped":
        return None
    if turn.ending.kind == "failed":
        return "error"
    output = (turn.final_response or {}).get("output", [])
    return "tool_calls" if any(i.get("type") == "function_call" for i in output) else "stop"


def generation_record(
    turn: Turn, request: TurnRequest, outcome: Outcome, *, provider_name: str
) -> dict[str, Any]:
    usage = turn.usage or {}
    cost = float(usage.get("cost", 0.0))
    details = usage.get("output_tokens_details", {})
    finish = _finish_reason(turn, outcome.cancelled)
    body = request.body
    return {
        "id": turn.generation_id,
        "upstream_id": f"sim-{turn.generation_id.rsplit('-', 1)[-1]}",
        "total_cost": cost,
        "usage": cost,
        "upstream_inference_cost": usage.get("cost_details", {}).get("upstream_inference_cost"),
        "cache_discount": None,
        "created_at": datetime.fromtimestamp(turn.created_at, UTC).isoformat(),
        "model": request.model,
        "provider_name": provider_name,
        "provider_responses": None,
        "router": None,
        "api_type": "completions",
        "streamed": outcome.streamed,
        "cancelled": outcome.cancelled,
        "tokens_prompt": usage.get("input_tokens", 0),
        "tokens_completion": usage.get("output_tokens", 0),
        "native_tokens_prompt": usage.get("input_tokens", 0),
        "native_tokens_completion": usage.get("output_tokens", 0),
        "native_tokens_reasoning": details.get("reasoning_tokens", 0),
        "native_tokens_cached": 0,
        "native_tokens_completion_images": 0,
        "num_media_prompt": request.image_count + request.file_count,
        "num_media_completion": 0,
        "num_input_audio_prompt": 0,
        "num_search_results": usage.get("server_tool_use_details", {}).get(
            "web_search_requests", 0
        ),
        "num_fetches": 0,
        "finish_reason": finish,
        "native_finish_reason": finish,
        "latency": outcome.latency_ms,
        "generation_time": outcome.generation_time_ms,
        "moderation_latency": None,
        "is_byok": False,
        "origin": "",
        "http_referer": None,
        "user_agent": None,
        "app_id": None,
        "external_user": body.get("user"),
        "preset_id": None,
        "session_id": body.get("session_id"),
        "request_id": None,
        "service_tier": "default",
        "data_region": "global",
        "web_search_engine": "native" if request.wants_web_search else None,
        "workspace_id": None,
        "response_cache_source_id": None,
    }


class GenerationLog:
    """Records by generation id (bounded) plus the running cost total."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._records: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.total_usage = 0.0

    def add(self, record: dict[str, Any]) -> None:
        self._records[record["id"]] = record
        self.total_usage += float(record["total_cost"])
        while len(self._records) > self._size:
            self._records.popitem(last=False)

    def get(self, generation_id: str) -> dict[str, Any] | None:
        return self._records.get(generation_id)


def key_info(label: str, total_usage: float) -> dict[str, Any]:
    """The ``GET /api/v1/key`` body (§6)."""
    usage = round(total_usage, 12)
    return {
        "data": {
            "label": label,
            "limit": None,
            "limit_remaining": None,
            "limit_reset": None,
            "include_byok_in_limit": False,
            "usage": usage,
            "usage_daily": usage,
            "usage_weekly": usage,
            "usage_monthly": usage,
            "byok_usage": 0,
            "byok_usage_daily": 0,
            "byok_usage_weekly": 0,
            "byok_usage_monthly": 0,
            "is_free_tier": False,
            "is_management_key": False,
            "is_provisioning_key": False,
            "creator_user_id": "user_simulator",
            "expires_at": None,
            "rate_limit": {"requests": -1, "interval": "10s", "note": "This field is deprecated."},
        }
    }
