"""What every scenario receives and returns, plus the deterministic text helpers they share."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pipe_service.simulator.catalog import ModelCard
from pipe_service.simulator.pacing import Pacing
from pipe_service.simulator.request_view import TurnRequest
from pipe_service.simulator.stream_writer import StreamWriter

ECHO_WORDS = 12
FILLER = [
    "the",
    "simulator",
    "streams",
    "deterministic",
    "words",
    "so",
    "clients",
    "can",
    "count",
    "every",
    "token",
    "it",
    "sends",
    "while",
    "tests",
    "check",
    "framing",
    "order",
    "usage",
    "and",
    "cost",
]


@dataclass(frozen=True, slots=True)
class ScenarioContext:
    request: TurnRequest
    card: ModelCard
    pacing: Pacing
    provider_name: str


@dataclass(frozen=True, slots=True)
class Ending:
    """How the stream ends after the scenario's items: completed, failed (with a message), or
    dropped (connection closed without a terminal event)."""

    kind: Literal["completed", "failed", "dropped"]
    message: str = ""


COMPLETED = Ending("completed")

Scenario = Callable[[ScenarioContext, StreamWriter], Ending]


def chunk_words(text: str, words_per_delta: int) -> list[str]:
    """Split ``text`` into deltas of ``words_per_delta`` words (spaces stay with their word)."""
    words = re.findall(r"\S+\s*", text)
    return ["".join(words[i : i + words_per_delta]) for i in range(0, len(words), words_per_delta)]


def chunk_chars(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def echo_of(request: TurnRequest) -> str:
    """The first words of the last user message (so tests see their request arrived)."""
    echo = " ".join(request.last_user_text.split()[:ECHO_WORDS])
    return echo.rstrip(".!?,;:")


def filler(words: int) -> str:
    return " ".join(FILLER[i % len(FILLER)] for i in range(words))


def text_answer(context: ScenarioContext, lead: str | None = None) -> str:
    """``You said: <echo>.`` (or ``lead``) followed by ``answer_words`` filler words."""
    if lead is None:
        echo = echo_of(context.request)
        lead = f"You said: {echo}." if echo else "Hello."
    return f"{lead} {filler(context.pacing.answer_words)}."


def add_text(context: ScenarioContext, out: StreamWriter, text: str) -> None:
    out.add_message(chunk_words(text, context.pacing.words_per_delta))
