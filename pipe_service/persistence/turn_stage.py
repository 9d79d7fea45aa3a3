"""The persistence stage of a turn's event stream: store the turn's artifacts and append
their markers to the answer, only once the writer has committed them.

It sits between the turn and the coalescer and forwards every event unchanged. A finished
reasoning item is handed to the writer as it arrives (the stream goes on meanwhile), and so is
each tool round (the tool loop calls :meth:`TurnArtifacts.add_round` through the request's
``on_tool_round``); right before the terminal :class:`Completed` whatever is left is
submitted, the stage waits for the acks (at most ``ack_wait_s``), then sends the status line
(if persistence was skipped or failed) and a :class:`TextDelta` with the marker block. By then
the rows have usually long committed, so the end of the stream waits for nothing. A failed or
cut turn gets no markers; its early rows expire with the retention cleanup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import trio

from pipe_service.chat.events import Completed, ReasoningItem, Status, TextDelta
from pipe_service.chat.turn_request import TurnOutput
from pipe_service.persistence.markers import render_markers
from pipe_service.persistence.turn_artifacts import TurnArtifacts


@dataclass(frozen=True, slots=True)
class TurnRecording:
    """What the stage needs to store one turn: its recorder (also fed by the tool loop) and
    the ``next_reply`` ids it consumed."""

    turn: TurnArtifacts
    consumed: tuple[str, ...] = ()


async def relay_with_persistence(
    events: trio.MemoryReceiveChannel[TurnOutput],
    out: trio.MemorySendChannel[TurnOutput],
    recording: TurnRecording,
) -> None:
    """Forward ``events`` to ``out`` (closing both), persisting at the terminal event."""
    streamed_reasoning: list[dict[str, Any]] = []
    turn = recording.turn
    try:
        async with events, out:
            async for event in events:
                if isinstance(event, ReasoningItem):
                    streamed_reasoning.append(event.item)
                    await turn.add_early(event.item)
                elif isinstance(event, Completed):
                    items = _with_streamed_reasoning(event.output_items, streamed_reasoning)
                    saved = await turn.finish(items, consumed=recording.consumed)
                    if saved.status is not None:
                        await out.send(Status(saved.status, done=True))
                    if saved.ids:
                        await out.send(TextDelta(render_markers(saved.ids)))
                await out.send(event)
    finally:
        turn.abandon()  # no-op after finish(); a cut turn releases its breaker trial


def _with_streamed_reasoning(
    output: Sequence[dict[str, Any]], streamed: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The terminal output, plus reasoning seen only as stream events (some providers list
    nothing in the terminal response), first, as the model produced it."""
    listed = {item.get("id") for item in output if item.get("type") == "reasoning"}
    missing = [item for item in streamed if item.get("id") not in listed]
    return [*missing, *output]
