"""Inbox behaviour: the three overload policies, clones, end-of-stream, and statistics.

Every test runs on virtual time (``autojump_clock``) where time matters and asserts the exact
trio clock, so a backpressure wait is a measured fact, not a guess.
"""

from __future__ import annotations

import math

import pytest
import trio

from actors import Inbox, InboxFull, OverloadPolicy


async def test_block_send_waits_for_room_until_a_consumer_takes_one(autojump_clock):
    inbox = Inbox[int]("edge", 1, OverloadPolicy.BLOCK)
    receiver = inbox.receiver()
    start = trio.current_time()

    async def consume_later() -> None:
        await trio.sleep(5)
        assert receiver.receive_nowait() == 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume_later)
        assert await inbox.send(1) is True
        assert await inbox.send(2) is True
        assert trio.current_time() == start + 5
    assert inbox.statistics().depth == 1


async def test_block_send_nowait_raises_would_block_when_full():
    inbox = Inbox[int]("edge", 1, OverloadPolicy.BLOCK)
    inbox.send_nowait(1)
    with pytest.raises(trio.WouldBlock):
        inbox.send_nowait(2)
    assert inbox.statistics().sent == 1


async def test_reject_raises_inbox_full_and_counts_the_rejection():
    inbox = Inbox[str]("admission", 1, OverloadPolicy.REJECT)
    assert inbox.send_nowait("first") is True
    with pytest.raises(InboxFull, match="admission") as excinfo:
        inbox.send_nowait("second")
    with pytest.raises(InboxFull):
        await inbox.send("third")
    assert excinfo.value.inbox_name == "admission"
    stats = inbox.statistics()
    assert (stats.sent, stats.rejected, stats.depth) == (1, 2, 1)


async def test_drop_returns_false_and_counts_the_drop():
    inbox = Inbox[str]("telemetry", 2, OverloadPolicy.DROP)
    sender = inbox.sender()
    assert [await sender.send("a"), sender.send_nowait("b"), sender.send_nowait("c")] == [
        True,
        True,
        False,
    ]
    assert await inbox.send("d") is False
    stats = inbox.statistics()
    assert (stats.sent, stats.dropped, stats.depth) == (2, 2, 2)


async def test_cancelled_reject_send_queues_nothing():
    inbox = Inbox[str]("admission", 1, OverloadPolicy.REJECT)
    with trio.CancelScope() as scope:
        scope.cancel()
        await inbox.send("never")
    assert inbox.statistics().sent == 0
    assert inbox.statistics().depth == 0


@pytest.mark.parametrize(
    ("size", "policy"),
    [
        (0, OverloadPolicy.REJECT),
        (0, OverloadPolicy.DROP),
        (-1, OverloadPolicy.BLOCK),
        (math.inf, OverloadPolicy.BLOCK),
        (2.5, OverloadPolicy.BLOCK),
    ],
)
def test_inbox_size_must_be_a_bounded_int(size, policy):
    with pytest.raises(ValueError, match="size"):
        Inbox[int]("edge", size, policy)


async def test_zero_size_block_inbox_is_a_rendezvous(autojump_clock):
    inbox = Inbox[int]("rendezvous", 0, OverloadPolicy.BLOCK)
    receiver = inbox.receiver()
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(inbox.send, 7)
        await trio.sleep(3)
        assert await receiver.receive() == 7
    assert trio.current_time() == start + 3


async def test_statistics_report_depth_and_processed():
    inbox = Inbox[int]("edge", 4, OverloadPolicy.BLOCK)
    for value in range(3):
        inbox.send_nowait(value)
    receiver = inbox.receiver()
    assert receiver.receive_nowait() == 0
    assert await receiver.receive() == 1
    stats = inbox.statistics()
    assert stats.as_dict() == {
        "name": "edge",
        "size": 4,
        "policy": "block",
        "depth": 1,
        "sent": 3,
        "processed": 2,
        "dropped": 0,
        "rejected": 0,
    }


async def test_receive_nowait_on_empty_inbox_counts_nothing():
    inbox = Inbox[int]("edge", 1, OverloadPolicy.BLOCK)
    with pytest.raises(trio.WouldBlock):
        inbox.receiver().receive_nowait()
    assert inbox.statistics().processed == 0


async def test_consumer_sees_end_of_stream_after_close_senders_and_every_clone_closes():
    inbox = Inbox[int]("edge", 4, OverloadPolicy.BLOCK)
    async with inbox.sender() as producer:
        await producer.send(1)
        inbox.close_senders()
        await producer.send(2)
    received = [msg async for msg in inbox.receiver()]
    assert received == [1, 2]


async def test_closing_a_receiver_keeps_queued_messages_for_the_next_one():
    inbox = Inbox[int]("edge", 4, OverloadPolicy.BLOCK)
    first = inbox.receiver()
    await inbox.send(1)
    await inbox.send(2)
    assert await first.receive() == 1
    await first.aclose()
    await inbox.send(3)  # no BrokenResourceError: the inbox keeps its original receive end
    second = inbox.receiver()
    assert [second.receive_nowait(), second.receive_nowait()] == [2, 3]


async def test_sender_after_close_senders_is_refused():
    inbox = Inbox[int]("edge", 1, OverloadPolicy.BLOCK)
    inbox.close_senders()
    with pytest.raises(trio.ClosedResourceError):
        inbox.sender()
