"""Reasoning answers: visible (Anthropic-style) and encrypted (OpenAI-style) reasoning items.

``sim/reasoning`` streams ``reasoning_text`` deltas and ends the item with a base64 ``signature``
and ``format: anthropic-claude-v1``; it ignores ``reasoning.summary`` like the real Anthropic
route. ``sim/encrypted-reasoning`` adds and completes the item at once with ``encrypted_content``
(``gAAAA…`` + ``.`` + base64 of ``{"endpoint_slug": …}``); when the request sets
``reasoning.summary`` it also streams ``reasoning_summary_*`` events into ``summary``.
"""

from __future__ import annotations

import base64
import hashlib
import json

from pipe_service.simulator.scenarios.base import (
    COMPLETED,
    Ending,
    ScenarioContext,
    add_text,
    chunk_words,
    echo_of,
    text_answer,
)
from pipe_service.simulator.stream_writer import StreamWriter


def reasoning_text(context: ScenarioContext) -> str:
    topic = echo_of(context.request) or "an empty prompt"
    return (
        f"The user wrote: {topic}. I should answer in "
        f"{context.pacing.answer_words} words and keep it deterministic."
    )


def signature_for(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return base64.b64encode(digest * 2).decode()


def encrypted_content_for(context: ScenarioContext, hidden: str) -> str:
    token = base64.urlsafe_b64encode(hashlib.sha256(hidden.encode()).digest() * 3).decode()
    slug = {"endpoint_slug": f"{context.card.id}|{context.provider_name.lower()}"}
    suffix = base64.b64encode(json.dumps(slug, separators=(",", ":")).encode()).decode()
    return f"gAAAAAB{token}.{suffix}"


def add_visible_reasoning(context: ScenarioContext, out: StreamWriter) -> None:
    text = reasoning_text(context)
    anthropic = context.card.author == "anthropic" or context.card.id == "sim/reasoning"
    out.add_visible_reasoning(
        chunk_words(text, context.pacing.words_per_delta),
        signature=signature_for(text) if anthropic else None,
        reasoning_format="anthropic-claude-v1" if anthropic else "unknown",
    )


def add_encrypted_reasoning(context: ScenarioContext, out: StreamWriter) -> None:
    hidden = reasoning_text(context)
    summary = None
    if context.request.wants_reasoning_summary:
        summary = chunk_words(f"**Planning** {hidden}", context.pacing.words_per_delta)
    out.add_encrypted_reasoning(
        encrypted_content_for(context, hidden), hidden_chars=len(hidden), summary_chunks=summary
    )


def visible_reasoning_then_text(context: ScenarioContext, out: StreamWriter) -> Ending:
    add_visible_reasoning(context, out)
    add_text(context, out, text_answer(context))
    return COMPLETED


def encrypted_reasoning_then_text(context: ScenarioContext, out: StreamWriter) -> Ending:
    add_encrypted_reasoning(context, out)
    add_text(context, out, text_answer(context))
    return COMPLETED
