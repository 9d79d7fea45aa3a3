"""Streams that go wrong after the 200: ``sim/fail-mid-stream`` and ``sim/disconnect``."""

from __future__ import annotations

from pipe_service.simulator.scenarios.base import (
    Ending,
    ScenarioContext,
    chunk_words,
    text_answer,
)
from pipe_service.simulator.stream_writer import StreamWriter

PARTIAL_DELTAS = 3
FAILURE_MESSAGE = "Simulated upstream failure mid-stream"


def _partial_message(context: ScenarioContext, out: StreamWriter) -> None:
    chunks = chunk_words(text_answer(context), context.pacing.words_per_delta)
    out.add_message(chunks[:PARTIAL_DELTAS], complete=False)


def fail_mid_stream(context: ScenarioContext, out: StreamWriter) -> Ending:
    """A few text deltas, then ``response.failed`` (code server_error) and ``[DONE]``."""
    _partial_message(context, out)
    return Ending("failed", FAILURE_MESSAGE)


def disconnect(context: ScenarioContext, out: StreamWriter) -> Ending:
    """A few text deltas, then the connection drops (no terminal event, no ``[DONE]``)."""
    _partial_message(context, out)
    return Ending("dropped")
