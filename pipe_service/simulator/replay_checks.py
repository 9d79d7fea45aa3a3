"""Checks a provider makes on replayed conversation state.

Anthropic verifies the ``signature`` of every thinking block sent back to it: a replayed
reasoning item of ``format: anthropic-claude-v1`` (or one that carries raw ``reasoning_text``
for an Anthropic-style model) whose signature is missing or does not match its text is refused
with a 400. The simulator signs its own reasoning with
:func:`~pipe_service.simulator.scenarios.reasoning.signature_for`, so a signature it did not
make, or text altered after signing, is refused the same way.
"""

from __future__ import annotations

from typing import Any

from pipe_service.simulator.catalog import ModelCard
from pipe_service.simulator.errors import ErrorReply, invalid_reasoning_signature
from pipe_service.simulator.request_view import TurnRequest
from pipe_service.simulator.scenarios.reasoning import signature_for

SIGNED_FORMAT = "anthropic-claude-v1"


def signs_reasoning(card: ModelCard) -> bool:
    """Models whose provider signs (and so verifies) thinking blocks."""
    return card.author == "anthropic" or card.id == "sim/reasoning"


def _reasoning_text(item: dict[str, Any]) -> str:
    parts = item.get("content")
    if not isinstance(parts, list):
        return ""
    return "".join(
        str(part.get("text", ""))
        for part in parts
        if isinstance(part, dict) and part.get("type") == "reasoning_text"
    )


def replayed_signature_error(
    request: TurnRequest, card: ModelCard, *, provider_name: str
) -> ErrorReply | None:
    """The 400 the provider answers when a replayed thinking block is not validly signed."""
    if not signs_reasoning(card):
        return None
    for index, item in enumerate(request.items):
        if item.get("type") != "reasoning":
            continue
        text = _reasoning_text(item)
        if item.get("format") != SIGNED_FORMAT and not text:
            continue  # encrypted or summary-only reasoning: nothing to verify
        if item.get("signature") != signature_for(text):
            return invalid_reasoning_signature(index, provider_name)
    return None
