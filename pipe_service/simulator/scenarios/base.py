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
ECHO_SCAN_CHARS = 4096
"""Only the start of the user's text is looked at for the echo: splitting a 30 MiB message into
words would cost the simulator a gigabyte for twelve words."""
QUOTE_CHARS = 2 * 1024 * 1024
"""Longest piece of client text (a tool output) quoted back in an answer: large enough for
the stall tests to fill socket buffers, bounded so a 30 MiB output costs no more."""
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
    echo = " ".join(request.last_user_text[:ECHO_SCAN_CHARS].split()[:ECHO_WORDS])
    return echo.rstrip(".!?,;:")


def quoted(text: str) -> str:
    """``text`` bounded to ``QUOTE_CHARS`` (an ellipsis marks the cut)."""
    return text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS] + "…"


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
