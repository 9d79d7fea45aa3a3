"""The gateway's two coalescing modes on a scripted upstream: same answer, fewer tasks adaptive.

``adaptive`` runs the turn, its stages and the coalescing in the turn's own task (the outbox
merges while the renderer is busy); ``window`` keeps the coalescer pump and its task. Tasks are
counted with a trio instrument while one turn runs.
"""

from __future__ import annotations

from typing import Any, Literal, cast

import pytest
import trio

from pipe_service.admission.gate import AdmissionGate, AdmissionLimits
from pipe_service.catalog.actor import Catalog
from pipe_service.catalog.filters import CatalogFilterOptions
from pipe_service.catalog.registry import ModelRegistry
from pipe_service.chat.events import Completed, TextDelta
from pipe_service.chat.gateway import ChatGateway, StreamingOptions
from pipe_service.chat.turn_request import TurnOutput
from pipe_service.openrouter.client import OpenRouterClient
from pipe_service.sessions import actor as sessions_actor
from pipe_service.sessions.actor import Sessions
from pipe_service.transform.options import TransformOptions
from tests.pipe_protocol.memory_session import MODEL_ROW
from tests.tools.fakes import ScriptedUpstream, text_script

PIECES = ["Hel", "lo", ", ", "wor", "ld"]


def streamed_script() -> list[dict[str, Any]]:
    """The text arrives as one delta per piece."""
    events = text_script("".join(PIECES))
    at = next(i for i, event in enumerate(events) if event["type"] == "response.output_text.delta")
    template = events[at]
    deltas = [{**template, "delta": piece} for piece in PIECES]
    return [*events[:at], *deltas, *events[at + 1 :]]


class SpawnCounter(trio.abc.Instrument):
    def __init__(self) -> None:
        self.spawned = 0

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.spawned += 1


def gateway(sessions: Sessions, mode: Literal["adaptive", "window"]) -> ChatGateway:
    catalog = Catalog(CatalogFilterOptions())
    catalog.install(ModelRegistry.from_payload({"data": [MODEL_ROW]}, CatalogFilterOptions()))
    return ChatGateway(
        catalog=catalog,
        sessions=sessions,
        admission=AdmissionGate(AdmissionLimits(slots=2, queue=2)),
        client=cast(OpenRouterClient, ScriptedUpstream(streamed_script())),
        options=TransformOptions(),
        streaming=StreamingOptions(coalescing=mode, flush_interval_s=0.05),
    )


async def one_turn(mode: Literal["adaptive", "window"]) -> tuple[list[TurnOutput], int]:
    body = {"model": "acme/chat", "messages": [{"role": "user", "content": "hi"}]}
    counter = SpawnCounter()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            sessions: Sessions = await nursery.start(sessions_actor.run, Sessions())
            chat = gateway(sessions, mode)
            model = chat.resolve_model("acme/chat")
            trio.lowlevel.add_instrument(counter)
            try:
                async with chat.open_turn(body, model=model, stream=True) as handle:
                    items = [item async for item in handle]
            finally:
                trio.lowlevel.remove_instrument(counter)
            nursery.cancel_scope.cancel()
    return items, counter.spawned


@pytest.mark.parametrize("mode", ["adaptive", "window"])
async def test_both_modes_relay_the_whole_answer(
    mode: Literal["adaptive", "window"], autojump_clock: trio.abc.Clock
) -> None:
    items, _ = await one_turn(mode)
    text = "".join(item.text for item in items if isinstance(item, TextDelta))
    assert text == "".join(PIECES)
    assert isinstance(items[-1], Completed)


async def test_adaptive_turn_runs_in_fewer_tasks(autojump_clock: trio.abc.Clock) -> None:
    _, adaptive = await one_turn("adaptive")
    _, window = await one_turn("window")
    # adaptive: the turn's task and the SSE reader; window adds the turn's child task (the
    # coalescer pump runs in the turn's task and the turn itself in a child).
    assert (adaptive, window) == (2, 3)
