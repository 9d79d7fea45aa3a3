"""Bounded actor inboxes with a named overload policy and counters for ``/status``.

An :class:`Inbox` is one trio memory channel with an explicit size (STYLE rule 5) and an explicit
answer to "what happens when it is full" (rule 6):

* :attr:`OverloadPolicy.BLOCK`: must-not-lose edges; ``send()`` waits, so backpressure reaches
  the producer. ``send_nowait()`` raises :class:`trio.WouldBlock` like a plain channel.
* :attr:`OverloadPolicy.REJECT`: admission; a full inbox raises :class:`InboxFull` at once so
  the caller can answer "busy".
* :attr:`OverloadPolicy.DROP`: telemetry; a full inbox drops the message, counts it and returns
  ``False``.

The inbox keeps the *original* send and receive ends. Producers get clones through
:meth:`Inbox.sender` and close them (rule 7); each run of the consuming actor gets a fresh clone
through :meth:`Inbox.receiver` (rule 8), so a crashing consumer closes only its clone, queued
messages stay in the channel, and producers never see :class:`trio.BrokenResourceError`.
The supervisor calls :meth:`Inbox.close_senders` at shutdown; consumers then drain what is
queued and see end-of-stream once every producer clone is closed too.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Generic, TypeVar

import trio

T = TypeVar("T")


class OverloadPolicy(enum.Enum):
    """What a send does when the inbox is full."""

    BLOCK = "block"
    REJECT = "reject"
    DROP = "drop"  # drop-and-count


class InboxFull(Exception):  # noqa: N818 - a condition, like trio.WouldBlock
    """A :attr:`~OverloadPolicy.REJECT` inbox was full; nothing was queued."""

    def __init__(self, inbox_name: str, size: int) -> None:
        super().__init__(f"inbox {inbox_name!r} is full ({size} messages queued)")
        self.inbox_name = inbox_name
        self.size = size


@dataclass(frozen=True)
class InboxStatistics:
    """A snapshot of one inbox.

    ``depth`` is the number of messages queued now; ``sent`` counts messages accepted,
    ``processed`` messages handed to a consumer, ``dropped`` and ``rejected`` messages refused
    by the DROP and REJECT policies.
    """

    name: str
    size: int
    policy: str
    depth: int
    sent: int
    processed: int
    dropped: int
    rejected: int

    def as_dict(self) -> dict[str, str | int]:
        return {
            "name": self.name,
            "size": self.size,
            "policy": self.policy,
            "depth": self.depth,
            "sent": self.sent,
            "processed": self.processed,
            "dropped": self.dropped,
            "rejected": self.rejected,
        }


class _Counters:
    """Mutable counters shared by an inbox and all of its sender and receiver clones."""

    __slots__ = ("dropped", "processed", "rejected", "sent")

    def __init__(self) -> None:
        self.sent = 0
        self.processed = 0
        self.dropped = 0
        self.rejected = 0


class _Policy(Generic[T]):
    """Applies an inbox's overload policy to sends on any of its send ends."""

    __slots__ = ("counters", "name", "policy", "size")

    def __init__(self, name: str, size: int, policy: OverloadPolicy) -> None:
        self.name = name
        self.size = size
        self.policy = policy
        self.counters = _Counters()

    def send_nowait(self, channel: trio.MemorySendChannel[T], msg: T) -> bool:
        try:
            channel.send_nowait(msg)
        except trio.WouldBlock:
            if self.policy is OverloadPolicy.REJECT:
                self.counters.rejected += 1
                raise InboxFull(self.name, self.size) from None
            if self.policy is OverloadPolicy.DROP:
                self.counters.dropped += 1
                return False
            raise
        self.counters.sent += 1
        return True

    async def send(self, channel: trio.MemorySendChannel[T], msg: T) -> bool:
        if self.policy is OverloadPolicy.BLOCK:
            await channel.send(msg)
            self.counters.sent += 1
            return True
        # Same checkpoint shape as MemorySendChannel.send: a cancelled send queues nothing, and
        # a send that queued (or dropped) still yields once. InboxFull raises without yielding.
        await trio.lowlevel.checkpoint_if_cancelled()
        queued = self.send_nowait(channel, msg)
        await trio.lowlevel.cancel_shielded_checkpoint()
        return queued


class InboxSender(Generic[T]):
    """One producer's send end: a clone of the inbox's send channel with its policy.

    Use it as ``async with sender:`` so the clone closes when the producer ends (rule 7).
    """

    __slots__ = ("_channel", "_policy")

    def __init__(self, channel: trio.MemorySendChannel[T], policy: _Policy[T]) -> None:
        self._channel = channel
        self._policy = policy

    async def send(self, msg: T) -> bool:
        """Queue ``msg`` under the inbox's policy; see :meth:`Inbox.send`."""
        return await self._policy.send(self._channel, msg)

    def send_nowait(self, msg: T) -> bool:
        """Queue ``msg`` without waiting; see :meth:`Inbox.send_nowait`."""
        return self._policy.send_nowait(self._channel, msg)

    def close(self) -> None:
        """Close this clone synchronously; idempotent."""
        self._channel.close()

    async def aclose(self) -> None:
        """Close this clone; idempotent."""
        self._channel.close()
        await trio.lowlevel.checkpoint()

    async def __aenter__(self) -> InboxSender[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class InboxReceiver(trio.abc.ReceiveChannel[T]):
    """One consumer run's receive end; counts every message it hands out as processed.

    It is a :class:`trio.abc.ReceiveChannel`, so actors can be typed against that interface and
    tested with a plain memory channel. ``async for msg in receiver`` ends at end-of-stream.
    """

    def __init__(self, channel: trio.MemoryReceiveChannel[T], counters: _Counters) -> None:
        self._channel = channel
        self._counters = counters

    async def receive(self) -> T:
        msg = await self._channel.receive()
        self._counters.processed += 1
        return msg

    def receive_nowait(self) -> T:
        msg = self._channel.receive_nowait()
        self._counters.processed += 1
        return msg

    def close(self) -> None:
        """Close this clone synchronously; idempotent. Queued messages stay in the inbox."""
        self._channel.close()

    async def aclose(self) -> None:
        self._channel.close()
        await trio.lowlevel.checkpoint()


class Inbox(Generic[T]):
    """A bounded actor inbox with a named size and overload policy.

    Synopsis::

        inbox = Inbox[LogRecord]("log_sink", LOG_SINK_INBOX, OverloadPolicy.DROP)
        await supervisor.start(ActorSpec("log_sink", log_sink.run, inbox=inbox, layer="sink"))

        async with inbox.sender() as send:          # one producer's own send end
            if not send.send_nowait(record):
                ...                                  # dropped and counted

        inbox.statistics().depth                     # a gauge for /metrics

    ``size`` is at least 1; 0 (a rendezvous) is allowed only for BLOCK, and ``math.inf`` never.
    """

    def __init__(self, name: str, size: int, policy: OverloadPolicy) -> None:
        if not name:
            raise ValueError("an inbox needs a name")
        if isinstance(size, bool) or not isinstance(size, int):
            # Catches math.inf too: an unbounded inbox hides overload instead of shedding it.
            raise ValueError(f"inbox {name!r}: size must be an int, got {size!r}")
        if size < 0 or (size == 0 and policy is not OverloadPolicy.BLOCK):
            raise ValueError(
                f"inbox {name!r}: size must be >= 1 (0 is allowed only for the BLOCK policy), "
                f"got {size}"
            )
        if not isinstance(policy, OverloadPolicy):
            raise ValueError(f"inbox {name!r}: policy must be an OverloadPolicy, got {policy!r}")
        self._policy = _Policy[T](name, size, policy)
        self._send, self._receive = trio.open_memory_channel[T](size)

    @property
    def name(self) -> str:
        return self._policy.name

    @property
    def size(self) -> int:
        return self._policy.size

    @property
    def policy(self) -> OverloadPolicy:
        return self._policy.policy

    def sender(self) -> InboxSender[T]:
        """A new send end for one producer; raises :class:`trio.ClosedResourceError` after
        :meth:`close_senders`."""
        return InboxSender(self._send.clone(), self._policy)

    def receiver(self) -> InboxReceiver[T]:
        """A new receive end for one run of the consuming actor."""
        return InboxReceiver(self._receive.clone(), self._policy.counters)

    async def send(self, msg: T) -> bool:
        """Queue ``msg`` on the original send end.

        Returns ``True`` once queued. When full: BLOCK waits for room, REJECT raises
        :class:`InboxFull`, DROP counts the drop and returns ``False``.
        """
        return await self._policy.send(self._send, msg)

    def send_nowait(self, msg: T) -> bool:
        """Queue ``msg`` without waiting.

        Returns ``True`` once queued. When full: REJECT raises :class:`InboxFull`, DROP counts
        the drop and returns ``False``, BLOCK raises :class:`trio.WouldBlock`.
        """
        return self._policy.send_nowait(self._send, msg)

    def close_senders(self) -> None:
        """Close the original send end; idempotent.

        Consumers drain what is queued and then see end-of-stream once every clone from
        :meth:`sender` is closed as well.
        """
        self._send.close()

    def statistics(self) -> InboxStatistics:
        counters = self._policy.counters
        return InboxStatistics(
            name=self.name,
            size=self.size,
            policy=self.policy.value,
            depth=self._receive.statistics().current_buffer_used,
            sent=counters.sent,
            processed=counters.processed,
            dropped=counters.dropped,
            rejected=counters.rejected,
        )
