"""Deltas that queued up while Open WebUI was busy reach it as one chunk (its cost is per chunk);
a delta with nothing behind it is yielded at once, and the frame that ends a run of deltas is
handled next, in order."""

from __future__ import annotations

import asyncio
import types
from typing import Any

from tests.shim.harness import OwuiSide, chat_body, run_shim, streamed_text
from tests.shim.scripted_sidecar import DONE, Peer, scripted_sidecar

ARRIVAL_POLL_S = 0.01


async def _open(shim: types.ModuleType, url: str) -> Any:
    return await shim.open_conversation(shim.parse_addresses(url), token="", connect_timeout_s=5.0)


async def _until_arrived(conversation: Any, frames: int) -> None:
    """Wait (the harness bounds it) until ``frames`` frames sit in the receive queue: aiohttp's
    queue has no event to wait on, so poll it."""
    while len(conversation._arrived) < frames:  # noqa: ASYNC110
        await asyncio.sleep(ARRIVAL_POLL_S)


async def test_deltas_that_arrived_together_are_joined_into_one_chunk(
    shim: types.ModuleType,
) -> None:
    async def script(peer: Peer) -> None:
        for text in ("You", " said", ": hi"):
            await peer.send({"type": "delta", "text": text})
        await peer.send(DONE)

    async def converse() -> tuple[str, dict[str, Any] | None]:
        conversation = await _open(shim, fake.url)
        try:
            await conversation.send({"type": "request"})
            await _until_arrived(conversation, 4)
            first = await conversation.receive(5.0)
            joined: tuple[str, dict[str, Any] | None] = await shim._arrived_deltas(
                conversation, first, 5.0
            )
            return joined
        finally:
            await conversation.aclose()

    async with scripted_sidecar(script) as fake:
        text, following = await run_shim(converse)
    assert text == "You said: hi"
    assert following == DONE


async def test_a_delta_with_nothing_behind_it_is_yielded_alone(shim: types.ModuleType) -> None:
    async def script(peer: Peer) -> None:
        await peer.send({"type": "delta", "text": "first"})
        await peer.receive()  # the shim has handled the first delta
        await peer.send({"type": "delta", "text": " second"})
        await peer.send(DONE)

    async def converse() -> tuple[str, dict[str, Any] | None]:
        conversation = await _open(shim, fake.url)
        try:
            await conversation.send({"type": "request"})
            first = await conversation.receive(5.0)
            joined: tuple[str, dict[str, Any] | None] = await shim._arrived_deltas(
                conversation, first, 5.0
            )
            await conversation.send({"type": "next"})
            return joined
        finally:
            await conversation.aclose()

    async with scripted_sidecar(script) as fake:
        text, following = await run_shim(converse)
    assert text == "first"
    assert following is None


async def test_a_chat_through_joined_deltas_streams_the_same_text_and_events(
    shim: types.ModuleType,
) -> None:
    event = {"type": "status", "data": {"description": "working", "done": False}}

    async def script(peer: Peer) -> None:
        for text in ("a", "b"):
            await peer.send({"type": "delta", "text": text})
        await peer.send({"type": "event", "event": event})
        for text in ("c", "d"):
            await peer.send({"type": "delta", "text": text})
        await peer.send(DONE)

    owui = OwuiSide()
    async with scripted_sidecar(script) as fake:
        pipe = shim.Pipe()
        pipe.valves = shim.Pipe.Valves(SIDECAR_ADDRESSES=fake.url)
        items = await run_shim(lambda: owui.invoke(pipe, chat_body(shim, "sim/text")))
    assert streamed_text(items) == "abcd"
    assert event in owui.events
