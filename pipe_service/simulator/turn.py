"""Assemble one complete simulated answer: keep-alives, created/in_progress, the scenario's items,
and the terminal event, with usage and cost from the model's pricing.

Synopsis::

    turn = build_turn(request, card, pacing, provider_name="Simulator")
    turn.steps           # what the stream body plays
    turn.final_response  # the non-stream body (None when the scenario drops the connection)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pipe_service.simulator import ids
from pipe_service.simulator.catalog import ModelCard
from pipe_service.simulator.pacing import Pacing
from pipe_service.simulator.request_view import TurnRequest
from pipe_service.simulator.response_object import response_object
from pipe_service.simulator.scenarios import Ending, ScenarioContext, choose_scenario
from pipe_service.simulator.script import Step, total_delay
from pipe_service.simulator.stream_writer import StreamWriter
from pipe_service.simulator.usage import FILE_TOKENS, IMAGE_TOKENS, build_usage, estimate_tokens


@dataclass(frozen=True, slots=True)
class Turn:
    generation_id: str
    created_at: int
    steps: list[Step]
    ending: Ending
    final_response: dict[str, Any] | None
    usage: dict[str, Any] | None


def input_tokens_of(request: TurnRequest) -> int:
    return (
        estimate_tokens(request.input_text_chars)
        + IMAGE_TOKENS * request.image_count
        + FILE_TOKENS * request.file_count
    )


def build_turn(
    request: TurnRequest,
    card: ModelCard,
    pacing: Pacing,
    *,
    provider_name: str,
    now: float | None = None,
    cache: tuple[int, int] = (0, 0),
) -> Turn:
    """The whole answer; ``cache`` is ``(cached, written)`` prompt tokens (see prompt_cache)."""
    started = time.time() if now is None else now
    generation_id = ids.generation_id(started)
    created_at = int(started)
    out = StreamWriter(pacing)
    for _ in range(pacing.leading_keepalives):
        out.keepalive()
    out.pause(pacing.first_token_delay_s)
    shell = response_object(
        request, response_id=generation_id, created_at=created_at, status="in_progress"
    )
    out.emit("response.created", response=shell)
    out.emit("response.in_progress", response=shell)
    context = ScenarioContext(request, card, pacing, provider_name)
    ending = choose_scenario(card)(context, out)
    completed_at = int(started + total_delay(out.steps))
    final: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    if ending.kind == "dropped":
        out.drop()
    elif ending.kind == "failed":
        final = response_object(
            request,
            response_id=generation_id,
            created_at=created_at,
            status="failed",
            error={"code": "server_error", "message": ending.message},
            error_type="server",
        )
        out.emit("response.failed", response=final)
        out.done()
    else:
        reasoning_tokens = estimate_tokens(out.reasoning_chars)
        usage = build_usage(
            card,
            input_tokens=input_tokens_of(request),
            output_tokens=estimate_tokens(out.output_chars) + reasoning_tokens,
            reasoning_tokens=reasoning_tokens,
            web_search_requests=out.web_search_requests,
            cached_tokens=cache[0],
            cache_write_tokens=cache[1],
        )
        final = response_object(
            request,
            response_id=generation_id,
            created_at=created_at,
            status="completed",
            output=out.output,
            usage=usage,
            completed_at=completed_at,
        )
        out.emit("response.completed", response=final)
        out.done()
    return Turn(generation_id, created_at, out.steps, ending, final, usage)
