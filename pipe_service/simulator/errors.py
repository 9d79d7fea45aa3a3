"""HTTP error replies with OpenRouter's exact envelopes (reference §4.1 and §7).

Two shapes exist on the real API and both are reproduced:
- Responses validation: ``{"error":{"code":"invalid_prompt","message":...},"metadata":{"raw":...}}``
  (string code, ``metadata`` as a top-level sibling);
- everything else: ``{"error":{"code":<int status>,"message":...,"metadata"?:{...}}}``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pipe_service.simulator.sse import compact_json

DOCS_URL = "https://openrouter.ai/docs/api/reference/errors-and-debugging"


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """An HTTP error answer: status, JSON body, extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def zod_issue(code: str, path: list[str | int], message: str, **extra: Any) -> dict[str, Any]:
    """One entry of the zod issue list OpenRouter JSON-encodes into ``metadata.raw``."""
    return {"code": code, **extra, "path": path, "message": message}


def invalid_prompt(issues: list[dict[str, Any]]) -> ErrorReply:
    return ErrorReply(
        400,
        {
            "error": {"code": "invalid_prompt", "message": "Invalid Responses API request"},
            "metadata": {"raw": compact_json(issues)},
        },
    )


def _coded(status: int, message: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": status, "message": message}
    if metadata is not None:
        error["metadata"] = metadata
    return {"error": error}


def no_auth_credentials() -> ErrorReply:
    return ErrorReply(401, {"error": {"message": "No auth credentials found", "code": 401}})


def user_not_found() -> ErrorReply:
    return ErrorReply(401, {"error": {"message": "User not found.", "code": 401}})


def insufficient_credits() -> ErrorReply:
    message = "Insufficient credits. Add more using https://openrouter.ai/credits"
    return ErrorReply(402, _coded(402, message))


def moderation_blocked(model_id: str, flagged_input: str, provider_name: str) -> ErrorReply:
    reasons = ["harassment"]
    message = (
        f"{model_id} requires moderation on {provider_name}. "
        'Your input was flagged for "harassment"'
    )
    metadata = {
        "reasons": reasons,
        "flagged_input": flagged_input[:100],
        "provider_name": provider_name,
        "model_slug": model_id,
    }
    return ErrorReply(403, _coded(403, message, metadata))


def request_timeout() -> ErrorReply:
    return ErrorReply(408, _coded(408, "Operation timed out. Please try again later."))


def rate_limited(retry_after_s: int, now: float | None = None) -> ErrorReply:
    reset_ms = str(int(((time.time() if now is None else now) + retry_after_s) * 1000))
    limits = {
        "X-RateLimit-Limit": "50",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": reset_ms,
    }
    message = (
        "Rate limit exceeded: free-models-per-day. "
        "Add 10 credits to unlock 1000 free model requests per day"
    )
    # Real 429 bodies put "message" before "code".
    metadata = {"headers": limits, "provider_name": None}
    body = {"error": {"message": message, "code": 429, "metadata": metadata}}
    return ErrorReply(429, body, {"Retry-After": str(retry_after_s), **limits})


def provider_error(provider_name: str, raw: str) -> ErrorReply:
    metadata = {"raw": raw, "provider_name": provider_name}
    return ErrorReply(502, _coded(502, "Provider returned error", metadata))


def service_unavailable(retry_after_s: int) -> ErrorReply:
    body = _coded(503, "Service temporarily unavailable")
    return ErrorReply(503, body, {"Retry-After": str(retry_after_s)})


def model_not_found(model_id: str) -> ErrorReply:
    """Unknown model id: the integer-coded 400 with an ``availability`` block."""
    error = {
        "code": 400,
        "message": f"{model_id} is not a valid model ID",
        "availability": {
            "code": "model_not_found",
            "retryable": False,
            "requested_models": [model_id],
            "docs_url": DOCS_URL,
        },
    }
    return ErrorReply(400, {"error": error, "user_id": None})


def unsupported_input(model_id: str, modality: str) -> ErrorReply:
    """Input parts the model cannot take (documented simulator choice: 400)."""
    message = f"No endpoints found that support {modality} input for model {model_id}"
    return ErrorReply(400, _coded(400, message, {"model_slug": model_id, "modality": modality}))


def generation_not_found(generation_id: str) -> ErrorReply:
    return ErrorReply(404, _coded(404, f"Generation {generation_id} not found"))


def missing_generation_id() -> ErrorReply:
    issue = zod_issue("invalid_type", ["id"], "Required", expected="string", received="undefined")
    return ErrorReply(400, _coded(400, "Invalid query parameters", {"raw": compact_json([issue])}))


def scenario_error(
    status: int, *, model_id: str, user_text: str, provider_name: str, retry_after_s: int
) -> ErrorReply:
    """The reply of ``sim/error-<status>`` (always before any stream)."""
    if status == 400:
        issue = zod_issue(
            "invalid_value", ["input"], "Simulated invalid request (sim/error-400)", values=[]
        )
        return invalid_prompt([issue])
    if status == 401:
        return user_not_found()
    if status == 402:
        return insufficient_credits()
    if status == 403:
        return moderation_blocked(model_id, user_text, provider_name)
    if status == 408:
        return request_timeout()
    if status == 429:
        return rate_limited(retry_after_s)
    if status == 502:
        raw = compact_json({"error": {"message": "Upstream overloaded (simulated)", "code": 502}})
        return provider_error(provider_name, raw)
    if status == 503:
        return service_unavailable(retry_after_s)
    raise ValueError(f"no simulated error for status {status}")


SCENARIO_ERROR_STATUSES = frozenset({400, 401, 402, 403, 408, 429, 502, 503})


def responses_unsupported(model_id: str, provider_name: str) -> ErrorReply:
    """A model whose providers cannot serve the Responses API (``sim/chat-only``).

    Modelled on the markers the seed pipe's fallback heuristic looks for (a 400 naming the
    Responses API as not supported); no real capture of this reply exists.
    """
    message = (
        f"{model_id} is not supported on the Responses API; "
        "use /api/v1/chat/completions for this model"
    )
    metadata = {"provider_name": provider_name, "model_slug": model_id}
    return ErrorReply(400, _coded(400, message, metadata))


def no_endpoints_for_policy(model_id: str, *, zdr: bool) -> ErrorReply:
    """The routing preferences (ZDR, only/ignore) leave the model without an endpoint."""
    policy = "your data policy (Zero data retention)" if zdr else "your provider preferences"
    message = f"No endpoints found matching {policy} for {model_id}"
    error = {
        "code": 404,
        "message": message,
        "availability": {
            "code": "no_endpoints_match_requirements",
            "retryable": False,
            "requested_models": [model_id],
            "docs_url": DOCS_URL,
        },
    }
    return ErrorReply(404, {"error": error, "user_id": None})


def invalid_reasoning_signature(index: int, provider_name: str) -> ErrorReply:
    """Anthropic's refusal of a replayed thinking block whose signature is missing or wrong,
    as OpenRouter relays provider errors (502-style envelope, status 400, ``metadata.raw``)."""
    raw = compact_json(
        {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "message": f"messages.{index}.content.0: Invalid `signature` in `thinking` block",
            },
        }
    )
    return ErrorReply(
        400, _coded(400, "Provider returned error", {"raw": raw, "provider_name": provider_name})
    )
