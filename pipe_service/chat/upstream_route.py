"""Which endpoint answers a run, and the retries that are safe before any output.

:func:`run_routed_upstream` wraps one upstream run:

* the endpoint comes from :func:`~pipe_service.transform.endpoint_choice.choose_endpoint`;
  model-family headers (the Claude interleaved-thinking beta) are added to the request;
* on ``/responses`` every event passes through a gate that holds back a failure arriving
  *before anything was emitted* (an HTTP error, or a ``response.failed`` with no output). Only
  such a held failure may be retried, so the user never sees output twice:

  1. **reasoning recovery** — the provider refused replayed reasoning (a missing or invalid
     thinking-block signature): the same request without its ``reasoning`` input items is sent
     once more, and a warning is logged;
  2. **chat fallback** — the model or a feature is not supported on ``/responses`` and the
     model is not forced there: the same request goes to ``/chat/completions``, logged; the
     turn's later runs (a tool loop) go to chat directly;

  any other held failure is emitted as it was.

Synopsis::

    await run_routed_upstream(request, client, payload, emit, run_responses=run_responses)
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from pipe_service.chat.chat_upstream import run_chat_completions
from pipe_service.chat.events import Failed
from pipe_service.chat.turn_request import Emit, TurnError, TurnOutput, TurnRequest
from pipe_service.chat.upstream_relay import StallPolicy
from pipe_service.openrouter.client import OpenRouterClient
from pipe_service.openrouter.errors import UpstreamError
from pipe_service.transform.endpoint_choice import (
    choose_endpoint,
    looks_like_responses_unsupported,
)
from pipe_service.transform.model_family import family_headers

__all__ = ["RunUpstream", "looks_like_reasoning_rejected", "run_routed_upstream"]

logger = logging.getLogger("pipe_service.chat.upstream_route")

RunUpstream = Callable[[TurnRequest, OpenRouterClient, dict[str, Any], Emit], Awaitable[None]]

_SIGNATURE_WORDS: Final = ("signature",)
_REASONING_WORDS: Final = ("thinking", "reasoning")


class _Gate:
    """Passes events through, except a failure that comes before any event: that is held."""

    def __init__(self, emit: Emit) -> None:
        self._emit = emit
        self.emitted = False
        self.held: TurnError | Failed | None = None

    async def __call__(self, event: TurnOutput) -> None:
        if not self.emitted and self.held is None and isinstance(event, TurnError | Failed):
            self.held = event
            return
        self.emitted = True
        await self._emit(event)


def _failure_text(failure: TurnError | Failed) -> tuple[int | None, object, str, str | None]:
    if isinstance(failure, Failed):
        return None, failure.code, failure.message, None
    error = failure.error
    if isinstance(error, UpstreamError):
        return error.status, error.code, error.message, error.detail
    return None, None, str(error), None


def looks_like_reasoning_rejected(failure: TurnError | Failed) -> bool:
    """The provider refused replayed reasoning (a thinking block's signature)."""
    status, _, message, detail = _failure_text(failure)
    if status is not None and status not in (400, 422):
        return False
    text = f"{message} {detail or ''}".lower()
    return any(word in text for word in _SIGNATURE_WORDS) and any(
        word in text for word in _REASONING_WORDS
    )


def _without_reasoning(payload: dict[str, Any]) -> dict[str, Any] | None:
    items = payload.get("input")
    if not isinstance(items, list):
        return None
    kept = [
        item for item in items if not (isinstance(item, dict) and item.get("type") == "reasoning")
    ]
    return None if len(kept) == len(items) else {**payload, "input": kept}


def _error_id(failure: TurnError | Failed) -> str:
    if isinstance(failure, TurnError) and isinstance(failure.error, UpstreamError):
        return failure.error.error_id
    return "-"


async def run_routed_upstream(
    request: TurnRequest,
    client: OpenRouterClient,
    payload: dict[str, Any],
    emit: Emit,
    *,
    run_responses: RunUpstream,
    stall: StallPolicy,
) -> None:
    """Run ``payload`` on the model's endpoint, retrying only failures before any output.

    ``stall`` is the silence policy of the /chat/completions stream (the Responses run carries
    its own in ``run_responses``)."""
    options, model = request.options, request.model
    headers = family_headers(model, options, payload)
    if headers:
        request = dataclasses.replace(request, extra_headers={**request.extra_headers, **headers})
    choice = choose_endpoint(model, options)
    if choice.endpoint == "chat_completions" or request.route.fell_back_to_chat:
        request.counters.chat_completions_runs += 1
        await run_chat_completions(request, client, payload, emit, stall=stall)
        return
    gate = _Gate(emit)
    await run_responses(request, client, payload, gate)
    if gate.held is not None and looks_like_reasoning_rejected(gate.held):
        stripped = _without_reasoning(payload)
        if stripped is not None:
            logger.warning(
                "provider rejected replayed reasoning; retrying once without it: model=%s "
                "error_id=%s",
                model.slug,
                _error_id(gate.held),
            )
            request.counters.reasoning_retries += 1
            payload = stripped
            gate = _Gate(emit)
            await run_responses(request, client, payload, gate)
    held = gate.held
    if held is None:
        return
    if choice.may_fall_back and looks_like_responses_unsupported(*_failure_text(held)):
        logger.info(
            "/responses does not serve model=%s (error_id=%s); falling back to /chat/completions",
            model.slug,
            _error_id(held),
        )
        request.route.fell_back_to_chat = True  # later runs of this turn go straight to chat
        request.counters.fallbacks_to_chat += 1
        request.counters.chat_completions_runs += 1
        await run_chat_completions(request, client, payload, emit, stall=stall)
        return
    await emit(held)
