"""Admission: a bounded queue in front of a fixed number of concurrency slots.

Every chat request, from the shim or the OpenAI API, passes here before any upstream work. A free
slot admits at once; otherwise the request waits in the queue (FIFO); when the queue is full too
the request is refused at once with :class:`ServerBusyError` — never a hang, never a crash.

Synopsis::

    limits = AdmissionLimits(slots=64, queue=256)
    gate = AdmissionGate(open_admission_queue(limits), limits)
    await supervisor.start(ActorSpec("admission", admission.run, args=(gate,), inbox=gate.queue))
    async with gate.admit():      # raises ServerBusyError when slots and queue are both full
        ...serve the request...
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio

from actors.inbox import Inbox, InboxFull, InboxReceiver, OverloadPolicy

ADMISSION_INBOX = "admission"
# The channel holds up to the largest queue the settings allow, so the queue limit can change
# at run time; ``admit()`` enforces the configured one (a refusal never depends on this size).
ADMISSION_INBOX_CAPACITY = 100_000


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


class Ticket:
    """One request's place in line. Granted by the actor; released by the request."""

    __slots__ = ("_abandoned", "_granted", "_release")

    def __init__(self) -> None:
        self._granted = trio.Event()
        self._abandoned = False
        self._release: trio.Semaphore | None = None

    def grant(self, slots: trio.Semaphore) -> bool:
        """Called by the actor holding one slot; False when the requester already gave up."""
        if self._abandoned:
            return False
        self._release = slots
        self._granted.set()
        return True

    async def wait_granted(self) -> None:
        await self._granted.wait()

    def abandon(self) -> None:
        self._abandoned = True

    def release(self) -> None:
        if self._release is not None:
            self._release.release()
            self._release = None


@dataclass(frozen=True)
class AdmissionStatistics:
    slots: int
    running: int
    queued: int
    queue_size: int
    admitted: int
    refused: int


class AdmissionGate:
    """The handle requests use. Built once by the service and passed to every run of the actor,
    so the slots that running requests hold survive an actor restart."""

    def __init__(self, queue: Inbox[Ticket], limits: AdmissionLimits) -> None:
        if limits.slots < 1 or limits.queue < 1:
            raise ValueError("admission needs at least one slot and a queue of at least one")
        self.queue = queue
        self.limits = limits
        # No max_value: raising the limit at run time releases extra tokens.
        self.slots = trio.Semaphore(limits.slots)
        self.slot_debt = 0  # tokens the actor must swallow after the limit was lowered
        self.admitted = 0
        self.refused = 0
        self.running = 0

    @property
    def retry_after_s(self) -> int:
        return self.limits.retry_after_s

    @retry_after_s.setter
    def retry_after_s(self, seconds: int) -> None:
        self.limits = AdmissionLimits(self.limits.slots, self.limits.queue, seconds)

    def resize(self, *, slots: int | None = None, queue: int | None = None) -> None:
        """Change the limits at run time.

        Running requests keep their slots. A lower slot count takes effect as slots come
        free (the actor keeps freed slots back until the new count is met); a higher one
        admits queued requests at once. A shorter queue refuses new arrivals only.
        """
        limits = AdmissionLimits(
            slots=self.limits.slots if slots is None else slots,
            queue=self.limits.queue if queue is None else queue,
            retry_after_s=self.limits.retry_after_s,
        )
        if limits.slots < 1 or limits.queue < 1:
            raise ValueError("admission needs at least one slot and a queue of at least one")
        if limits.queue > self.queue.size:
            raise ValueError(f"admission queue cannot exceed {self.queue.size}")
        delta = limits.slots - self.limits.slots
        if delta < 0:
            self.slot_debt += -delta
        else:
            repaid = min(self.slot_debt, delta)
            self.slot_debt -= repaid
            for _ in range(delta - repaid):
                self.slots.release()
        self.limits = limits

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """Hold one slot for the body; raise :class:`ServerBusyError` at once if none is free."""
        ticket = Ticket()
        try:
            if self.queue.statistics().depth >= self.limits.queue:
                raise InboxFull(self.queue.name, self.limits.queue)
            self.queue.send_nowait(ticket)
        except InboxFull:
            self.refused += 1
            raise ServerBusyError(
                slots=self.limits.slots,
                queue=self.limits.queue,
                retry_after_s=self.limits.retry_after_s,
            ) from None
        try:
            await ticket.wait_granted()
        except BaseException:
            # Cancelled while queued: the actor must not hand this ticket a slot later, and a
            # slot granted in the same instant goes straight back.
            ticket.abandon()
            ticket.release()
            raise
        self.admitted += 1
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1
            ticket.release()

    def statistics(self) -> AdmissionStatistics:
        return AdmissionStatistics(
            slots=self.limits.slots,
            running=self.running,
            queued=self.queue.statistics().depth,
            queue_size=self.limits.queue,
            admitted=self.admitted,
            refused=self.refused,
        )


def open_admission_queue(limits: AdmissionLimits) -> Inbox[Ticket]:
    """The queue: REJECT policy; its length is enforced by ``admit()`` (changeable)."""
    return Inbox[Ticket](
        ADMISSION_INBOX, max(ADMISSION_INBOX_CAPACITY, limits.queue), OverloadPolicy.REJECT
    )


async def run(
    inbox: InboxReceiver[Ticket],
    gate: AdmissionGate,
    *,
    task_status: trio.TaskStatus[AdmissionGate] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Hand slots to queued tickets in arrival order.

    Consumes :class:`Ticket` from ``inbox`` (the receive side of ``gate.queue``) and grants each
    one a slot as slots come free. ``started()`` returns ``gate``, the handle request handlers
    call. Resource handling: a slot goes back when the request's ``admit()`` block ends, or at
    once when its ticket was abandoned while queued; a slot this loop holds but has not handed
    out is released on any exit. Error handling: nothing here is expected to fail; a crash is
    restarted by the supervisor with the queue and every held slot intact.
    """
    task_status.started(gate)
    async with inbox:
        while True:
            await gate.slots.acquire()
            if gate.slot_debt > 0:
                # The limit was lowered: this freed slot is retired, not handed out.
                gate.slot_debt -= 1
                continue
            handed_out = False
            try:
                ticket = await inbox.receive()
                handed_out = ticket.grant(gate.slots)
            except trio.EndOfChannel:
                return
            finally:
                if not handed_out:
                    gate.slots.release()
