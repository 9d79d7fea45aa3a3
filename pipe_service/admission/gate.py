"""Admission: a fixed number of concurrency slots with a bounded FIFO queue in front.

Every chat request, from the shim or the OpenAI API, passes here before any upstream work. A free
slot admits at once; otherwise the request waits in line (FIFO); when every slot is taken *and*
the line is full the request is refused at once with :class:`ServerBusyError` — never a hang,
never a crash, and never a refusal while a slot or a place in line is free.

The slots are a :class:`trio.CapacityLimiter`: it is FIFO, hands a released slot straight to the
oldest waiter (no newcomer can jump the line) and counts its waiters, so the queue is just that
count compared with ``queue_size``. There is no actor and no ticket: the task that asks is the
one that waits. Both limits can be changed while running (:meth:`AdmissionGate.resize`); a smaller
limit never evicts a running or waiting request, it only shapes who comes next.

Synopsis::

    gate = AdmissionGate(AdmissionLimits(slots=64, queue=256))
    async with gate.admit():      # raises ServerBusyError when slots and queue are both full
        ...serve the request...
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio

__all__ = [
    "AdmissionGate",
    "AdmissionLimits",
    "AdmissionStatistics",
    "ServerBusyError",
]


class ServerBusyError(Exception):
    """Every slot is taken and the queue is full; ``retry_after_s`` is a hint for clients."""

    def __init__(self, *, slots: int, queue: int, retry_after_s: int) -> None:
        super().__init__(f"server busy: {slots} requests running and {queue} waiting")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class AdmissionLimits:
    slots: int
    queue: int
    retry_after_s: int = 2

    def __post_init__(self) -> None:
        if self.slots < 1 or self.queue < 1:
            raise ValueError("admission needs at least one slot and a queue of at least one")


@dataclass(frozen=True)
class AdmissionStatistics:
    slots: int
    running: int
    queued: int
    queue_size: int
    admitted: int
    refused: int


class AdmissionGate:
    """The handle every request passes through; one per process."""

    def __init__(self, limits: AdmissionLimits) -> None:
        self.limiter = trio.CapacityLimiter(limits.slots)
        self.queue_size = limits.queue
        self.retry_after_s = limits.retry_after_s
        self.admitted = 0
        self.refused = 0

    def resize(self, *, slots: int | None = None, queue: int | None = None) -> None:
        """Change the limits while running (validated like :class:`AdmissionLimits`)."""
        limits = AdmissionLimits(
            slots=int(self.limiter.total_tokens) if slots is None else slots,
            queue=self.queue_size if queue is None else queue,
        )
        self.limiter.total_tokens = limits.slots
        self.queue_size = limits.queue

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """Hold one slot for the body; raise :class:`ServerBusyError` at once if none is free
        and the line is full. Cancelled while waiting, the request leaves the line at once."""
        borrower = object()  # one token per request, even when a task serves several
        try:
            self.limiter.acquire_on_behalf_of_nowait(borrower)
        except trio.WouldBlock:
            if self.limiter.statistics().tasks_waiting >= self.queue_size:
                self.refused += 1
                raise ServerBusyError(
                    slots=self.limiter.borrowed_tokens,
                    queue=self.queue_size,
                    retry_after_s=self.retry_after_s,
                ) from None
            await self.limiter.acquire_on_behalf_of(borrower)
        self.admitted += 1
        try:
            yield
        finally:
            self.limiter.release_on_behalf_of(borrower)

    def statistics(self) -> AdmissionStatistics:
        limiter = self.limiter.statistics()
        return AdmissionStatistics(
            slots=int(limiter.total_tokens),
            running=limiter.borrowed_tokens,
            queued=limiter.tasks_waiting,
            queue_size=self.queue_size,
            admitted=self.admitted,
            refused=self.refused,
        )
