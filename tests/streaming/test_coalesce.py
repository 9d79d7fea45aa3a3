"""Delta coalescing: the pure DeltaCoalescer and the trio pump on virtual time.

Pump tests run on ``autojump_clock`` and assert the exact virtual time each output event was
received, so they pin both what is merged and when it is released.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
import trio

from pipe_service.chat.coalesce import DeltaCoalescer, coalesce_events
from pipe_service.chat.events import ReasoningDelta, Status, TextDelta, TurnEvent

INTERVAL = 0.05


def make(flush_bytes: int = 64) -> DeltaCoalescer[TurnEvent]:
    """A coalescer past the first delta of each kind (those go out at once, tested below)."""
    coalescer = DeltaCoalescer[TurnEvent](flush_bytes=flush_bytes, flush_interval_s=INTERVAL)
    assert coalescer.add(ReasoningDelta("r0"), 0.0) == [ReasoningDelta("r0")]
    assert coalescer.add(TextDelta("t0"), 0.0) == [TextDelta("t0")]
    return coalescer


# -- the pure core ----------------------------------------------------------------------------


def test_the_first_delta_of_each_kind_goes_out_at_once() -> None:
    coalescer = DeltaCoalescer[TurnEvent](flush_bytes=64, flush_interval_s=INTERVAL)
    assert coalescer.add(TextDelta("Hel"), 0.0) == [TextDelta("Hel")]
    assert coalescer.add(TextDelta("lo"), 0.0) == []
    assert coalescer.add(ReasoningDelta("hm"), 0.0) == [TextDelta("lo"), ReasoningDelta("hm")]
    assert coalescer.add(ReasoningDelta("m"), 0.0) == []
    assert coalescer.flush() == [ReasoningDelta("m")]


def test_consecutive_text_deltas_merge() -> None:
    coalescer = make()
    assert coalescer.add(TextDelta("a"), 0.0) == []
    assert coalescer.add(TextDelta("b"), 0.01) == []
    assert coalescer.flush() == [TextDelta("ab")]


def test_size_threshold_flushes_immediately() -> None:
    coalescer = make(flush_bytes=4)
    assert coalescer.add(TextDelta("ab"), 0.0) == []
    assert coalescer.add(TextDelta("cd"), 0.0) == [TextDelta("abcd")]
    assert coalescer.next_deadline() is None


def test_size_is_counted_in_utf8_bytes() -> None:
    coalescer = make(flush_bytes=4)
    assert coalescer.add(TextDelta("é"), 0.0) == []  # 2 bytes
    assert coalescer.add(TextDelta("é"), 0.0) == [TextDelta("éé")]


def test_deadline_is_age_of_oldest_pending_delta() -> None:
    coalescer = make()
    coalescer.add(TextDelta("a"), 1.0)
    coalescer.add(TextDelta("b"), 1.04)
    assert coalescer.next_deadline() == 1.0 + INTERVAL
    assert coalescer.due(1.0 + INTERVAL - 0.001) == []
    assert coalescer.due(1.0 + INTERVAL) == [TextDelta("ab")]


def test_kind_change_flushes_the_other_kind_first() -> None:
    coalescer = make()
    coalescer.add(ReasoningDelta("think"), 0.0)
    assert coalescer.add(TextDelta("say"), 0.0) == [ReasoningDelta("think")]
    assert coalescer.flush() == [TextDelta("say")]


def test_non_delta_event_flushes_pending_first() -> None:
    coalescer = make()
    coalescer.add(TextDelta("a"), 0.0)
    status = Status("Searching the web…", done=False)
    assert coalescer.add(status, 0.0) == [TextDelta("a"), status]
    assert coalescer.next_deadline() is None


def test_empty_delta_is_dropped() -> None:
    coalescer = make()
    assert coalescer.add(TextDelta(""), 0.0) == []
    assert coalescer.flush() == []


def test_invalid_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="flush_bytes"):
        DeltaCoalescer[TurnEvent](flush_bytes=0, flush_interval_s=0.1)


# -- the trio pump ----------------------------------------------------------------------------

Script = Callable[[trio.MemorySendChannel[TurnEvent]], Awaitable[None]]


async def pump(script: Script, *, flush_bytes: int = 64) -> list[tuple[float, TurnEvent]]:
    """Run ``script`` as the producer; return (receive time, event) for each output."""
    in_send, in_receive = trio.open_memory_channel[TurnEvent](16)
    out_send, out_receive = trio.open_memory_channel[TurnEvent](16)
    received: list[tuple[float, TurnEvent]] = []

    async def produce() -> None:
        async with in_send:
            await script(in_send)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce)
            nursery.start_soon(
                lambda: coalesce_events(
                    in_receive, out_send, flush_bytes=flush_bytes, flush_interval_s=INTERVAL
                )
            )
            async with out_receive:
                async for event in out_receive:
                    received.append((trio.current_time(), event))
    return received


async def test_lone_delta_is_released_after_the_interval(autojump_clock: trio.abc.Clock) -> None:
    async def script(send: trio.MemorySendChannel[TurnEvent]) -> None:
        await send.send(TextDelta("first"))
        await send.send(TextDelta("a"))
        await trio.sleep(1)

    assert await pump(script) == [(0, TextDelta("first")), (INTERVAL, TextDelta("a"))]


async def test_trickling_deltas_merge_until_oldest_is_due(autojump_clock: trio.abc.Clock) -> None:
    async def script(send: trio.MemorySendChannel[TurnEvent]) -> None:
        for text in "_abc":
            await send.send(TextDelta(text))
            if text != "_":
                await trio.sleep(0.02)
        await trio.sleep(1)

    # _ at once; a@0, b@0.02, c@0.04 → one "abc" at 0.05; nothing more.
    assert await pump(script) == [(0, TextDelta("_")), (INTERVAL, TextDelta("abc"))]


async def test_size_flush_does_not_wait(autojump_clock: trio.abc.Clock) -> None:
    async def script(send: trio.MemorySendChannel[TurnEvent]) -> None:
        await send.send(TextDelta("_"))
        await trio.sleep(0.3)
        await send.send(TextDelta("ab"))
        await send.send(TextDelta("cd"))
        await trio.sleep(1)

    assert await pump(script, flush_bytes=4) == [(0, TextDelta("_")), (0.3, TextDelta("abcd"))]


async def test_other_event_releases_pending_delta_in_order(autojump_clock: trio.abc.Clock) -> None:
    status = Status("Searching the web…", done=False)

    async def script(send: trio.MemorySendChannel[TurnEvent]) -> None:
        await send.send(TextDelta("_"))
        await send.send(TextDelta("a"))
        await trio.sleep(0.01)
        await send.send(status)
        await trio.sleep(1)

    assert await pump(script) == [(0, TextDelta("_")), (0.01, TextDelta("a")), (0.01, status)]


async def test_end_of_input_flushes_and_closes_output(autojump_clock: trio.abc.Clock) -> None:
    async def script(send: trio.MemorySendChannel[TurnEvent]) -> None:
        await trio.sleep(0.2)
        await send.send(ReasoningDelta("r"))
        await send.send(TextDelta("t"))

    # The pump returning (and closing its output) is what ends pump()'s async for.
    assert await pump(script) == [(0.2, ReasoningDelta("r")), (0.2, TextDelta("t"))]


async def test_idle_pump_sends_nothing(autojump_clock: trio.abc.Clock) -> None:
    async def script(send: trio.MemorySendChannel[TurnEvent]) -> None:
        await trio.sleep(5)

    assert await pump(script) == []
    assert trio.current_time() == 5


async def test_pump_closes_its_input(autojump_clock: trio.abc.Clock) -> None:
    in_send, in_receive = trio.open_memory_channel[TurnEvent](1)
    out_send, out_receive = trio.open_memory_channel[TurnEvent](1)
    await out_receive.aclose()  # the consumer is gone
    await in_send.send(Status("x", done=True))
    with trio.fail_after(1), pytest.raises(trio.BrokenResourceError):
        await coalesce_events(in_receive, out_send, flush_bytes=8, flush_interval_s=INTERVAL)
    with pytest.raises(trio.BrokenResourceError):
        in_send.send_nowait(Status("y", done=True))
