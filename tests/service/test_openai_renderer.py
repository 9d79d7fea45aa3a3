"""The OpenAI API's stream renderer (``ChatChunkRender`` in the shared ``TurnEventStream``) as
a unit: a real sessions actor feeds it turn outputs on virtual time; no sockets."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from typing import Any

import trio
import trio.testing

from pipe_service.chat.events import Failed, TextDelta
from pipe_service.chat.gateway import shutdown_cut
from pipe_service.chat.turn_request import TurnOutput
from pipe_service.front.event_stream import TurnEventStream
from pipe_service.front.openai_api import ChatChunkRender
from pipe_service.front.turn_door import AdmittedTurn
from pipe_service.openrouter.errors import UpstreamError, UpstreamErrorKind
from pipe_service.sessions import actor as sessions_actor
from pipe_service.sessions.actor import Sessions
from tests.pipe_protocol.memory_session import make_gateway


async def _render(nursery: trio.Nursery, items: list[TurnOutput]) -> list[Any]:
    sessions: Sessions = await nursery.start(sessions_actor.run, Sessions())
    gateway = make_gateway(object(), sessions)

    async def body(send: trio.MemorySendChannel[TurnOutput], cut: trio.CancelScope) -> None:
        async with send:
            for item in items:
                await send.send(item)

    exits = AsyncExitStack()
    handle = await exits.enter_async_context(sessions.open_turn(body))
    first = await handle.receive()
    trace = exits.enter_context(
        gateway.telemetry.track_request(front="openai", model="acme/chat", stream=True)
    )
    model = gateway.resolve_model("acme/chat")
    turn = AdmittedTurn(gateway, trace, exits, handle, first, model, stream=True)
    stream = TurnEventStream(turn, ChatChunkRender(gateway, "chatcmpl-1", "acme/chat", 0))
    # Frames rendered together go out in one write: split the body back into its events.
    body = b"".join([chunk async for chunk in stream])
    chunks = [event + b"\n\n" for event in body.split(b"\n\n") if event]
    assert chunks[-1] == b"data: [DONE]\n\n"
    return [json.loads(chunk.removeprefix(b"data: ")) for chunk in chunks[:-1]]


def _content(chunks: list[Any]) -> str:
    return "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks)


async def test_a_mid_stream_failure_shows_the_id_it_was_minted_with(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    dropped = UpstreamError(UpstreamErrorKind.NETWORK, "connection lost")
    failed = Failed(code="network", message="x", error_type=None, response_id=None, failure=dropped)
    chunks = await _render(nursery, [TextDelta("partial "), failed])
    text = _content(chunks)
    assert text.startswith("partial ")
    assert f"Error ID: {dropped.error_id}" in text
    assert "network" in text
    assert chunks[-1]["choices"][0]["finish_reason"] == "error"


async def test_a_shutdown_cut_names_the_restarting_sidecar(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    cut = shutdown_cut()
    chunks = await _render(nursery, [TextDelta("partial "), cut])
    text = _content(chunks)
    assert "sidecar is restarting" in text
    assert "OpenRouter said" not in text
    assert f"Error ID: {cut.failure.error_id}" in text


async def test_a_turn_that_ends_without_a_terminal_event_ends_with_an_internal_notice(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    chunks = await _render(nursery, [TextDelta("partial ")])
    assert "Something went wrong inside the gateway" in _content(chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "error"
