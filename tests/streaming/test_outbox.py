"""The turn outbox (adaptive coalescing): merge while the renderer is busy, never wait when idle.

The renderer's "busy" time is simulated with ``trio.sleep`` on ``autojump_clock``; each test
asserts what the renderer received and the exact virtual time it received it.
"""

from __future__ import annotations

import pytest
import trio

from pipe_service.chat.coalesce import MAX_MERGED_CHARS, merge_deltas
from pipe_service.chat.events import ReasoningDelta, Status, TextDelta, TurnEvent
from pipe_service.front.pipe.render import merge_text_frames
from pipe_service.protocol import Delta, Event, Reasoning, encode
from pipe_service.sessions.outbox import OutboxReceiver, OutboxSender, open_outbox


def outbox(capacity: int = 8) -> tuple[OutboxSender[TurnEvent], OutboxReceiver[TurnEvent]]:
    return open_outbox(capacity, merge=merge_deltas)


async def render(
    receive: OutboxReceiver[TurnEvent], *, busy_s: float
) -> list[tuple[float, TurnEvent]]:
    """A renderer that takes ``busy_s`` to write each item; (time received, item) for each."""
    got: list[tuple[float, TurnEvent]] = []
    async with receive:
        async for item in receive:
            got.append((trio.current_time(), item))
            await trio.sleep(busy_s)
    return got


async def test_idle_renderer_gets_every_delta_at_once(autojump_clock: trio.abc.Clock) -> None:
    send, receive = outbox()
    got: list[tuple[float, TurnEvent]] = []

    async def produce() -> None:
        async with send:
            for text in "abc":
                await send.send(TextDelta(text))
                await trio.sleep(0.02)  # an upstream pace slower than the renderer

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce)
            got = await render(receive, busy_s=0.001)
    assert got == [(0, TextDelta("a")), (0.02, TextDelta("b")), (0.04, TextDelta("c"))]


async def test_busy_renderer_gets_what_piled_up_merged(autojump_clock: trio.abc.Clock) -> None:
    send, receive = outbox()
    got: list[tuple[float, TurnEvent]] = []

    async def produce() -> None:
        async with send:
            for text in "abcde":
                await send.send(TextDelta(text))
                await trio.sleep(0.01)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce)
            got = await render(receive, busy_s=0.025)
    # "a" at once; while "a" is written (25 ms) b and c arrive and merge; then d and e.
    assert got == [(0, TextDelta("a")), (0.025, TextDelta("bc")), (0.05, TextDelta("de"))]


async def test_items_sent_before_the_renderer_runs_merge() -> None:
    send, receive = outbox()
    async with send:
        for item in (TextDelta("a"), TextDelta("b"), ReasoningDelta("r"), ReasoningDelta("s")):
            await send.send(item)
        status = Status("Searching…", done=False)
        await send.send(status)
        await send.send(TextDelta("c"))
    assert [item async for item in receive] == [
        TextDelta("ab"),
        ReasoningDelta("rs"),
        status,
        TextDelta("c"),
    ]


async def test_full_outbox_back_pressures_the_sender(autojump_clock: trio.abc.Clock) -> None:
    send, receive = outbox(capacity=2)
    statuses = [Status(str(index), done=True) for index in range(3)]  # never merged
    await send.send(statuses[0])
    await send.send(statuses[1])
    with trio.move_on_after(1) as waited:
        await send.send(statuses[2])
    assert waited.cancelled_caught  # nothing was queued by the cancelled send
    assert await receive.receive() == statuses[0]
    await send.send(statuses[2])  # room again
    send.close()
    assert [item async for item in receive] == statuses[1:]


async def test_merged_text_is_capped() -> None:
    send, receive = outbox()
    big = "x" * MAX_MERGED_CHARS
    async with send:
        await send.send(TextDelta(big))
        await send.send(TextDelta("y"))
    assert [item async for item in receive] == [TextDelta(big), TextDelta("y")]
    assert receive.merged() == 0


async def test_clones_keep_it_open_until_all_are_closed() -> None:
    send, receive = outbox()
    other = send.clone()
    send.close()
    await other.send(Status("last", done=True))
    other.close()
    assert await receive.receive() == Status("last", done=True)
    with pytest.raises(trio.EndOfChannel):
        await receive.receive()
    with pytest.raises(trio.ClosedResourceError):
        await send.send(TextDelta("late"))


async def test_a_closed_receiver_breaks_the_sender(autojump_clock: trio.abc.Clock) -> None:
    send, receive = outbox(capacity=1)
    await send.send(Status("queued", done=True))

    async def blocked_send() -> None:
        with pytest.raises(trio.BrokenResourceError):
            await send.send(Status("waiting", done=True))

    with trio.fail_after(1):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(blocked_send)
            await trio.sleep(0.1)
            await receive.aclose()
    with pytest.raises(trio.BrokenResourceError):
        await send.send(TextDelta("after"))
    with pytest.raises(trio.ClosedResourceError):
        await receive.receive()


async def test_without_merge_it_is_a_plain_fifo() -> None:
    send, receive = open_outbox(4)
    async with send:
        await send.send(TextDelta("a"))
        await send.send(TextDelta("b"))
    assert [item async for item in receive] == [TextDelta("a"), TextDelta("b")]


def test_merge_keeps_kinds_apart() -> None:
    assert merge_deltas(TextDelta("a"), TextDelta("b")) == TextDelta("ab")
    assert merge_deltas(ReasoningDelta("a"), ReasoningDelta("b")) == ReasoningDelta("ab")
    assert merge_deltas(TextDelta("a"), ReasoningDelta("b")) is None
    assert merge_deltas(Status("a", done=True), Status("b", done=True)) is None


def test_an_outbox_needs_room() -> None:
    with pytest.raises(ValueError, match="at least one"):
        open_outbox(0)


async def test_the_shim_outbox_merges_text_frames_while_its_writer_is_busy() -> None:
    send, receive = open_outbox(8, merge=merge_text_frames)
    event = Event(event={"type": "status", "data": {"description": "x", "done": True}})
    async with send:
        for frame in (Delta(text="a"), Delta(text="b"), Reasoning(text="r"), event):
            await send.send(frame)
        await send.send(Delta(text="c"))
    frames = [frame async for frame in receive]
    assert frames == [Delta(text="ab"), Reasoning(text="r"), event, Delta(text="c")]
    assert encode(frames[0]) == encode(Delta(text="ab"))
