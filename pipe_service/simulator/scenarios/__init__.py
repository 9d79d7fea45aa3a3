"""Scenario selection: a ``sim/*`` id picks its scenario; other catalog models act by capability.

Each scenario is a pure function ``(ScenarioContext, StreamWriter) -> Ending`` that appends the
output items of one answer. ``sim/error-<status>`` models never reach a scenario: the app answers
them with an HTTP error first (see :func:`scenario_error_status`).
"""

from __future__ import annotations

from pipe_service.simulator.catalog import ModelCard
from pipe_service.simulator.errors import SCENARIO_ERROR_STATUSES
from pipe_service.simulator.scenarios.base import (
    COMPLETED,
    Ending,
    Scenario,
    ScenarioContext,
    add_text,
)
from pipe_service.simulator.scenarios.citations import search_and_cite
from pipe_service.simulator.scenarios.failures import disconnect, fail_mid_stream
from pipe_service.simulator.scenarios.images import draw_image
from pipe_service.simulator.scenarios.reasoning import (
    add_encrypted_reasoning,
    add_visible_reasoning,
    encrypted_reasoning_then_text,
    visible_reasoning_then_text,
)
from pipe_service.simulator.scenarios.text import describe_attachments, plain_text, stall_then_text
from pipe_service.simulator.scenarios.tools import (
    add_function_calls,
    answer_text,
    call_tools_or_answer,
    should_call_tools,
)
from pipe_service.simulator.stream_writer import StreamWriter

__all__ = ["Ending", "Scenario", "ScenarioContext", "choose_scenario", "scenario_error_status"]

SIM_SCENARIOS: dict[str, Scenario] = {
    "sim/text": plain_text,
    "sim/text:free": plain_text,
    "sim/reasoning": visible_reasoning_then_text,
    "sim/encrypted-reasoning": encrypted_reasoning_then_text,
    "sim/tool-call": call_tools_or_answer,
    "sim/web-citations": search_and_cite,
    "sim/vision": describe_attachments,
    "sim/image": draw_image,
    "sim/fail-mid-stream": fail_mid_stream,
    "sim/disconnect": disconnect,
    "sim/stall": stall_then_text,
}

ERROR_MODEL_PREFIX = "sim/error-"


def scenario_error_status(model_id: str) -> int | None:
    """The HTTP status ``sim/error-<status>`` always answers with, else None."""
    if not model_id.startswith(ERROR_MODEL_PREFIX):
        return None
    suffix = model_id.removeprefix(ERROR_MODEL_PREFIX)
    status = int(suffix) if suffix.isdigit() else None
    return status if status in SCENARIO_ERROR_STATUSES else None


def by_capabilities(context: ScenarioContext, out: StreamWriter) -> Ending:
    """Any other catalog model: reasoning item if it reasons, then a function call or text.

    ``openai/*`` models reason encrypted (OpenAI style); other reasoning models stream visible
    reasoning text (with a signature only for ``anthropic/*``).
    """
    card, request = context.card, context.request
    if card.reasons and not request.reasoning_disabled:
        if card.author == "openai":
            add_encrypted_reasoning(context, out)
        else:
            add_visible_reasoning(context, out)
    if card.calls_tools and should_call_tools(request):
        add_function_calls(context, out)
    else:
        add_text(context, out, answer_text(context))
    return COMPLETED


def choose_scenario(card: ModelCard) -> Scenario:
    return SIM_SCENARIOS.get(card.id, by_capabilities)
