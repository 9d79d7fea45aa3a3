"""A turn's outbox: a bounded FIFO from one turn to its renderer that merges while the renderer
is busy (adaptive coalescing).

An item sent while the renderer waits wakes it at once, so at low load every delta goes out as
soon as it arrives (no coalescing window, no added gap). Items sent while the renderer is busy
(rendering, writing to its socket, or merely not yet scheduled because the process is loaded)
are merged into the last queued item when ``merge`` allows it, so under load the renderer
writes fewer, larger frames. No timer is involved: the renderer's own pace sets the batching.

Unlike a memory channel, ``send`` yields only when it has to wait (a full outbox); it is still
a cancel point. Otherwise it behaves like one: ``send`` waits while ``capacity`` items are
queued (backpressure), ``clone()`` gives more send ends (the receiver sees end-of-channel once
all are closed), closing the receive end makes ``send`` raise ``BrokenResourceError``.

Synopsis::

    send, receive = open_outbox(32, merge=merge_deltas)
    async with send:
        await send.send(TextDelta("a"))
        await send.send(TextDelta("b"))      # renderer not yet run: merged into "ab"
    async for item in receive: ...          # TextDelta("ab"), then end-of-channel
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar

import trio
from trio.lowlevel import ParkingLot, cancel_shielded_checkpoint, checkpoint_if_cancelled

T = TypeVar("T")

Merge = Callable[[T, T], "T | None"]
"""``merge(queued, new)``: one item standing for both, or None to queue ``new`` on its own."""


class _State(Generic[T]):
    def __init__(self, capacity: int, merge: Merge[T] | None) -> None:
        if capacity < 1:
            raise ValueError("an outbox needs room for at least one item")
        self.capacity = capacity
        self.merge = merge
        self.items: deque[T] = deque()
        self.open_senders = 0
        self.receiver_closed = False
        self.not_empty = ParkingLot()
        self.not_full = ParkingLot()
        self.merged = 0


class OutboxSender(trio.abc.SendChannel[T]):
    """The turn's end. ``close()`` is synchronous (no checkpoint), as a memory channel's is."""

    def __init__(self, state: _State[T]) -> None:
        self._state = state
        self._closed = False
        state.open_senders += 1

    async def send(self, value: T) -> None:
        await checkpoint_if_cancelled()
        state = self._state
        while True:
            if self._closed:
                raise trio.ClosedResourceError
            if state.receiver_closed:
                raise trio.BrokenResourceError
            items = state.items
            if items and state.merge is not None:
                merged = state.merge(items[-1], value)
                if merged is not None:
                    items[-1] = merged
                    state.merged += 1
                    break
            if len(items) < state.capacity:
                items.append(value)
                if state.not_empty:
                    state.not_empty.unpark_all()
                break
            await state.not_full.park()  # cancellable: nothing was queued
        # No yield after queueing: a producer handing on the events of one upstream read keeps
        # running, so they merge while the renderer has not run yet. It still yields wherever
        # it waits (the next read, a full outbox).

    def clone(self) -> OutboxSender[T]:
        if self._closed:
            raise trio.ClosedResourceError
        return OutboxSender(self._state)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        state = self._state
        state.open_senders -= 1
        if state.open_senders == 0:
            state.not_empty.unpark_all()

    def __enter__(self) -> OutboxSender[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    async def aclose(self) -> None:
        self.close()
        await trio.lowlevel.checkpoint()


class OutboxReceiver(trio.abc.ReceiveChannel[T]):
    """The renderer's end (one renderer per turn)."""

    def __init__(self, state: _State[T]) -> None:
        self._state = state

    async def receive(self) -> T:
        await checkpoint_if_cancelled()
        state = self._state
        if state.items:
            await cancel_shielded_checkpoint()
        while not state.items:
            if state.receiver_closed:
                raise trio.ClosedResourceError
            if state.open_senders == 0:
                raise trio.EndOfChannel
            # Wait for the next item; while this task waits to be run again, further items
            # merge into the one that woke it.
            await state.not_empty.park()
        item = state.items.popleft()
        if state.not_full:
            state.not_full.unpark()
        return item

    def merged(self) -> int:
        """How many sent items were merged into a queued one so far."""
        return self._state.merged

    def close(self) -> None:
        state = self._state
        if state.receiver_closed:
            return
        state.receiver_closed = True
        state.items.clear()
        state.not_full.unpark_all()
        state.not_empty.unpark_all()

    async def aclose(self) -> None:
        self.close()
        await trio.lowlevel.checkpoint()


def open_outbox(
    capacity: int, *, merge: Merge[T] | None = None
) -> tuple[OutboxSender[T], OutboxReceiver[T]]:
    """A new outbox: its send end and its receive end. Without ``merge`` it is a plain FIFO."""
    state = _State[T](capacity, merge)
    return OutboxSender(state), OutboxReceiver(state)
