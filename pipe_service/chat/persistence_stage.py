"""Persistence around one turn: replay before it, the persistence stage during and after it.

:func:`prepare_turn_persistence` runs before the payload is built: markers are stripped from
the history, the items they name (the owner's, this chat's) are loaded for replay, and the
turn's recorder is hooked into the tool loop.

:func:`relay_with_persistence` is the stage of the turn's event stream, between the turn and
the coalescer; it forwards every event unchanged. A finished reasoning item is handed to the
writer as it arrives (the stream goes on meanwhile), and so is each tool round (the tool loop
calls :meth:`TurnArtifacts.add_round` through the request's ``on_tool_round``). Right before
the terminal :class:`Completed` whatever is left is submitted, the stage waits for the acks (at
most ``ack_wait_s``), then sends the status line (if persistence was skipped or failed) and a
:class:`TextDelta` with the marker block. By then the rows have usually long committed, so the
end of the stream waits for nothing. A failed or cut turn gets no markers; its early rows
expire with the retention cleanup.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import trio

from pipe_service.chat.events import Completed, ReasoningItem, Status, TextDelta
from pipe_service.chat.turn_request import Emit, TurnOutput, TurnRequest
from pipe_service.persistence.markers import render_markers
from pipe_service.persistence.recorder import ArtifactPersistence
from pipe_service.persistence.replay import strip_history_markers
from pipe_service.persistence.retention import storage_policy
from pipe_service.persistence.turn_artifacts import ArtifactScope, TurnArtifacts
from pipe_service.telemetry.trace import time_phase


async def prepare_turn_persistence(
    persistence: ArtifactPersistence | None, request: TurnRequest
) -> tuple[TurnRequest, TurnRecording | None, str | None]:
    """Before a turn: the request with markers stripped, the stored items to replay and the
    tool-round hook; how to record the turn (None: nothing is stored); a status line for the
    user (or None)."""
    messages = request.body.get("messages")
    if persistence is None or request.task is not None:
        # Tasks (titles, tags…) replay and store nothing, but must not see markers either.
        body = {**request.body, "messages": strip_history_markers(messages)}
        return dataclasses.replace(request, body=body), None, None
    scope = artifact_scope(request)
    with time_phase("persistence"):
        prepared = await persistence.prepare_replay(messages, scope=scope)
    body = {**request.body, "messages": prepared.messages}
    request = dataclasses.replace(request, body=body, replayed=prepared.plan.items_before)
    if scope is None:
        return request, None, prepared.status
    user = request.user
    policy = storage_policy(
        persistence.settings,
        user_reasoning=user.persist_reasoning if user is not None else None,
        user_tool_results=user.persist_tool_results if user is not None else None,
    )
    turn = persistence.begin_turn(scope, policy)
    request = dataclasses.replace(request, on_tool_round=turn.add_round)
    return (
        request,
        TurnRecording(turn, consumed=tuple(prepared.plan.next_reply_ids)),
        (prepared.status),
    )


def artifact_scope(request: TurnRequest) -> ArtifactScope | None:
    """Whose artifacts the turn makes: the request's ``owner`` (the OpenAI API's caller) or
    the Open WebUI user; None (store nothing) for an anonymous turn."""
    identity = request.identity
    owner = request.owner
    if owner is None and identity is not None and identity.user_id:
        owner = f"user:{identity.user_id}"
    if owner is None:
        return None
    return ArtifactScope(
        owner=owner,
        chat_id=(identity.chat_id if identity is not None else None) or "",
        message_id=(identity.message_id if identity is not None else None) or "",
        model=request.model.slug,
    )


@dataclass(frozen=True, slots=True)
class TurnRecording:
    """What the stage needs to store one turn: its recorder (also fed by the tool loop) and
    the ``next_reply`` ids it consumed."""

    turn: TurnArtifacts
    consumed: tuple[str, ...] = ()


class PersistenceStage:
    """The persistence stage as a step of the turn's own task: :meth:`pass_on` forwards one
    event (with the markers before the terminal :class:`Completed`), :meth:`close` ends it.

    Synopsis::

        stage = PersistenceStage(recording)
        try:
            await stage.pass_on(event, out.send)     # for each event, in order
        finally:
            stage.close()
    """

    def __init__(self, recording: TurnRecording) -> None:
        self._recording = recording
        self._streamed_reasoning: list[dict[str, Any]] = []

    async def pass_on(self, event: TurnOutput, send: Emit) -> None:
        turn = self._recording.turn
        if isinstance(event, ReasoningItem):
            self._streamed_reasoning.append(event.item)
            with time_phase("persistence"):
                await turn.add_early(event.item)
        elif isinstance(event, Completed):
            items = _with_streamed_reasoning(event.output_items, self._streamed_reasoning)
            with time_phase("persistence"):
                saved = await turn.finish(items, consumed=self._recording.consumed)
            if saved.status is not None:
                await send(Status(saved.status, done=True))
            if saved.ids:
                await send(TextDelta(render_markers(saved.ids)))
        await send(event)

    def close(self) -> None:
        self._recording.turn.abandon()  # no-op after finish(); a cut turn releases its trial


async def relay_with_persistence(
    events: trio.MemoryReceiveChannel[TurnOutput],
    out: trio.MemorySendChannel[TurnOutput],
    recording: TurnRecording,
) -> None:
    """Forward ``events`` to ``out`` (closing both), persisting at the terminal event (the
    stage as its own task, between the turn and the windowed coalescer)."""
    stage = PersistenceStage(recording)
    try:
        async with events, out:
            async for event in events:
                await stage.pass_on(event, out.send)
    finally:
        stage.close()


def _with_streamed_reasoning(
    output: Sequence[dict[str, Any]], streamed: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The terminal output, plus reasoning seen only as stream events (some providers list
    nothing in the terminal response), first, as the model produced it."""
    listed = {item.get("id") for item in output if item.get("type") == "reasoning"}
    missing = [item for item in streamed if item.get("id") not in listed]
    return [*missing, *output]
