"""The control channel between the supervisor process and a worker: calls both ways at once,
errors that travel as answers, and a closed or broken peer that never leaves a caller waiting.

Both ends run in this process over an in-memory stream pair (the real channel is a socketpair;
the channel only sees a byte stream).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

from pipe_service.workers import control
from pipe_service.workers.control import (
    ControlCallFailedError,
    ControlChannel,
    ControlChannelClosedError,
    Message,
)


async def _echo(message: Message) -> Message:
    return {"echo": message.get("op")}


@asynccontextmanager
async def linked(
    answer_a: control.Answer = _echo, answer_b: control.Answer = _echo
) -> AsyncIterator[tuple[ControlChannel, ControlChannel]]:
    left, right = trio.testing.memory_stream_pair()
    a, b = ControlChannel(left, peer="b"), ControlChannel(right, peer="a")
    async with trio.open_nursery() as nursery:
        await nursery.start(a.serve, answer_a)
        await nursery.start(b.serve, answer_b)
        yield a, b
        nursery.cancel_scope.cancel()


async def test_a_call_gets_the_other_sides_answer() -> None:
    with trio.fail_after(5):
        async with linked() as (a, _):
            assert await a.call({"op": "status"}) == {"echo": "status"}


async def test_an_answer_may_call_back_while_its_caller_waits() -> None:
    """The supervisor applies a worker's `set` by calling that same worker back."""
    channels: dict[str, ControlChannel] = {}

    async def supervisor(message: Message) -> Message:
        applied = await channels["to worker"].call({"op": "apply"})
        return {"forwarded": message["op"], "worker said": applied}

    with trio.fail_after(5):
        async with linked(answer_a=supervisor) as (to_worker, to_supervisor):
            channels["to worker"] = to_worker
            answer = await to_supervisor.call({"op": "set"})

    assert answer == {"forwarded": "set", "worker said": {"echo": "apply"}}


async def test_many_calls_in_flight_each_get_their_own_answer() -> None:
    async def slow_echo(message: Message) -> Message:
        await trio.sleep(message["delay"])
        return {"n": message["n"]}

    answers: dict[int, Message] = {}

    async def ask(channel: ControlChannel, n: int) -> None:
        answers[n] = await channel.call({"op": "x", "n": n, "delay": (5 - n) * 0.1})

    with trio.fail_after(5):
        async with linked(answer_b=slow_echo) as (a, _), trio.open_nursery() as nursery:
            for n in range(5):
                nursery.start_soon(ask, a, n)

    assert answers == {n: {"n": n} for n in range(5)}


async def test_an_answer_that_raises_reaches_the_caller_and_the_channel_serves_on() -> None:
    async def picky(message: Message) -> Message:
        if message["op"] == "bad":
            raise ValueError("unknown operation 'bad'")
        return {"ok": True}

    with trio.fail_after(5):
        async with linked(answer_b=picky) as (a, _):
            with pytest.raises(ControlCallFailedError, match="ValueError: unknown operation"):
                await a.call({"op": "bad"})
            assert await a.call({"op": "good"}) == {"ok": True}


async def test_a_notice_is_handled_without_an_answer() -> None:
    seen: list[Message] = []
    noticed = trio.Event()

    async def record(message: Message) -> Message:
        seen.append(message)
        noticed.set()
        return {}

    with trio.fail_after(5):
        async with linked(answer_b=record) as (a, _):
            await a.notify({"op": "apply", "generation": 3})
            await noticed.wait()

    assert seen == [{"op": "apply", "generation": 3}]


async def test_a_waiting_caller_learns_when_the_other_side_closes() -> None:
    left, right = trio.testing.memory_stream_pair()
    caller = ControlChannel(left, peer="worker")
    failure: list[BaseException] = []

    async def call() -> None:
        try:
            await caller.call({"op": "status"})
        except ControlChannelClosedError as exc:
            failure.append(exc)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(caller.serve, _echo)
            nursery.start_soon(call)
            await right.receive_some()  # the call went out; the worker dies unanswered
            await right.aclose()

    assert len(failure) == 1
    assert caller.closed
    with pytest.raises(ControlChannelClosedError):
        await caller.call({"op": "status"})


async def test_an_unreadable_line_is_skipped_and_the_next_message_is_answered() -> None:
    left, right = trio.testing.memory_stream_pair()
    channel = ControlChannel(left, peer="worker")
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(channel.serve, _echo)
            await right.send_all(b"not json\n[1, 2]\n" + b'{"op": "status", "id": 9}\n')
            answer = await right.receive_some()
            nursery.cancel_scope.cancel()

    assert answer == b'{"reply":9,"body":{"echo":"status"}}\n'


async def test_a_message_past_the_size_limit_closes_the_channel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(control, "MAX_MESSAGE_BYTES", 64)
    left, right = trio.testing.memory_stream_pair()
    channel = ControlChannel(left, peer="worker")
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(channel.serve, _echo)
            await right.send_all(b"x" * 100)
            assert await right.receive_some() == b""  # closed by the channel

    assert channel.closed
