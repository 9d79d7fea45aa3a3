"""Coalesce small text/reasoning deltas into fewer, larger ones on the output side.

Two modes (``streaming.coalescing``). **adaptive** (the default): the turn's outbox merges
consecutive deltas only while the renderer is busy (:func:`merge_deltas`, applied by
:mod:`pipe_service.sessions.outbox`): a delta goes out at once when the client's writer is idle,
so low load gets no added gap and high load fewer frames, with no timer and no task of its own.
**window**: the pump below holds deltas for up to ``flush_interval_s`` / ``flush_bytes``.

Upstreams send many tiny deltas (often one token each); every delta costs a frame, a JSON encode
and a socket write further down. :class:`DeltaCoalescer` merges consecutive deltas of the same
kind and releases them when the buffer reaches ``flush_bytes`` (UTF-8) or when the oldest
buffered delta is ``flush_interval_s`` old, whichever comes first. Measuring age from the oldest
delta (not idle time since the newest) bounds the latency a user sees even when deltas keep
trickling in. Any other event first flushes what is pending, so order is always preserved.

The first delta of each kind in a turn is never held: time to first token is what users feel,
and `pipe-service bench` measured the flush window adding ~25 ms to it (docs/benchmarks.md).

:class:`DeltaCoalescer` is a pure core (time is a parameter); :func:`coalesce_events` is the trio
pump that drives it between two memory channels.
"""

from __future__ import annotations

import math
from typing import Final, Generic, TypeVar, cast

import trio

from pipe_service.chat.events import ReasoningDelta, TextDelta

# The channel item type: any union that includes the delta types (e.g. ``TurnEvent``, or a
# caller's ``TurnEvent | TurnError``). Items other than deltas pass through untouched.
ItemT = TypeVar("ItemT")

# Adaptive mode: a merged delta grows to at most this many characters, so one frame stays small
# even when a stalled writer lets much text pile up.
MAX_MERGED_CHARS: Final = 16384

# The pump handles at most this many already-queued events before it sends, so a fast producer
# cannot delay flushing without bound.
DRAIN_BATCH_LIMIT: Final = 256


def merge_deltas(queued: ItemT, new: ItemT) -> ItemT | None:
    """One delta standing for ``queued`` followed by ``new`` when both are deltas of the same
    kind (and the merged text stays under ``MAX_MERGED_CHARS``); None otherwise.

    Synopsis::

        merge_deltas(TextDelta("a"), TextDelta("b"))       # TextDelta("ab")
        merge_deltas(TextDelta("a"), ReasoningDelta("b"))  # None: order is kept instead
    """
    if not isinstance(queued, TextDelta | ReasoningDelta) or type(new) is not type(queued):
        return None
    if len(queued.text) >= MAX_MERGED_CHARS:
        return None  # the queued one is full: ``new`` starts the next frame
    addition = cast("TextDelta | ReasoningDelta", new)  # same type as ``queued``, checked above
    return cast("ItemT", type(queued)(queued.text + addition.text))


class DeltaCoalescer(Generic[ItemT]):
    """Merge consecutive same-kind deltas; flush by size or age.

    Synopsis::

        coalescer = DeltaCoalescer[TurnEvent](flush_bytes=256, flush_interval_s=0.03)
        out = coalescer.add(TextDelta("a"), now)      # [TextDelta("a")] (first: at once)
        out = coalescer.add(TextDelta("b"), now)      # [] (buffered)
        out = coalescer.due(now + 0.03)               # [TextDelta("b")]
        out = coalescer.flush()                       # [] at end of turn
    """

    def __init__(self, *, flush_bytes: int, flush_interval_s: float) -> None:
        if flush_bytes <= 0:
            raise ValueError("flush_bytes must be positive")
        if flush_interval_s < 0:
            raise ValueError("flush_interval_s must not be negative")
        self._flush_bytes = flush_bytes
        self._flush_interval_s = flush_interval_s
        self._kind: type[TextDelta] | type[ReasoningDelta] | None = None
        self._parts: list[str] = []
        self._size = 0
        self._deadline: float | None = None
        self._seen: set[type[TextDelta] | type[ReasoningDelta]] = set()

    def add(self, event: ItemT, now: float) -> list[ItemT]:
        """Buffer a delta, or pass any other event through after the pending delta."""
        if not isinstance(event, TextDelta | ReasoningDelta):
            return [*self.flush(), event]
        kind = TextDelta if isinstance(event, TextDelta) else ReasoningDelta
        out: list[ItemT] = []
        if self._kind is not None and kind is not self._kind:
            out += self.flush()
        if not event.text:
            return out
        if kind not in self._seen:
            self._seen.add(kind)
            return [*out, *self.flush(), event]
        if self._kind is None:
            self._kind = kind
            self._deadline = now + self._flush_interval_s
        self._parts.append(event.text)
        self._size += len(event.text.encode("utf-8", "surrogatepass"))
        if self._size >= self._flush_bytes:
            out += self.flush()
        return out

    def due(self, now: float) -> list[ItemT]:
        """Flush the pending delta if its deadline has passed."""
        if self._deadline is not None and now >= self._deadline:
            return self.flush()
        return []

    def next_deadline(self) -> float | None:
        """When the pending delta must go out, or ``None`` when nothing is pending."""
        return self._deadline

    def flush(self) -> list[ItemT]:
        """Release the pending delta now (``[]`` if nothing is pending)."""
        kind = self._kind
        if kind is None:
            return []
        # Safe: only items that were deltas of this kind were buffered, so the kind is in ItemT.
        merged = cast("ItemT", kind("".join(self._parts)))
        self._kind = None
        self._parts = []
        self._size = 0
        self._deadline = None
        return [merged]


async def coalesce_events(
    receive: trio.MemoryReceiveChannel[ItemT],
    send: trio.abc.SendChannel[ItemT],
    *,
    flush_bytes: int,
    flush_interval_s: float,
) -> None:
    """Pump events from ``receive`` to ``send``, coalescing deltas (see :class:`DeltaCoalescer`).

    Returns when ``receive`` reaches end-of-channel, after flushing what is pending.

    **Resource handling:** owns both ends it is given: it closes ``send`` (so the consumer sees
    end-of-channel) and ``receive`` when it returns, whether normally or by an exception.

    **Error handling:** nothing is caught. If the consumer is gone, ``send`` raises
    ``trio.BrokenResourceError`` and that ends the pump; the session decides what it means.
    """
    coalescer = DeltaCoalescer[ItemT](flush_bytes=flush_bytes, flush_interval_s=flush_interval_s)
    async with send, receive:
        while True:
            deadline = coalescer.next_deadline()
            batch: list[ItemT] = []
            ended = False
            with trio.move_on_at(math.inf if deadline is None else deadline):
                try:
                    batch.append(await receive.receive())
                except trio.EndOfChannel:
                    ended = True
            if batch:
                ended = _drain_ready(receive, batch)
            now = trio.current_time()
            out: list[ItemT] = []
            for event in batch:
                out += coalescer.add(event, now)
            out += coalescer.flush() if ended else coalescer.due(now)
            for event in out:
                await send.send(event)
            if ended:
                return


def _drain_ready(receive: trio.MemoryReceiveChannel[ItemT], batch: list[ItemT]) -> bool:
    """Append already-queued events to ``batch``; return True if the channel has ended."""
    while len(batch) < DRAIN_BATCH_LIMIT:
        try:
            batch.append(receive.receive_nowait())
        except trio.WouldBlock:
            return False
        except trio.EndOfChannel:
            return True
    return False
