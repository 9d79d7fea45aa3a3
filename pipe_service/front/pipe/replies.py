"""Frames the sidecar sends the shim that wait for the shim's reply, matched by ``call_id``.

A ``tool_call`` waits for its ``tool_result``, a ``store_file`` for its ``file_stored``. The
asking task sends the frame through the connection's outbox and waits; the session's reader
task hands each reply over with :meth:`ShimReplies.deliver`. When the connection ends,
:meth:`ShimReplies.close` wakes every waiting ask with :class:`ConnectionEndedError`.

Synopsis::

    replies = ShimReplies[ToolResult](outbox.clone())
    result = await replies.ask(call_id, ToolCall(call_id=call_id, ...))   # asking task
    replies.deliver(call_id, tool_result)                                 # reader task
    replies.close()                                                       # connection over
"""

from __future__ import annotations

import logging
from typing import Generic, Protocol, TypeVar

import trio

from pipe_service.protocol import ServerFrame

logger = logging.getLogger("pipe_service.front.pipe.replies")

R = TypeVar("R")


class FrameOutbox(Protocol):
    """The connection's outbox as an ask sees it: a send end it owns and closes (a trio
    memory channel, or the session's coalescing outbox)."""

    async def send(self, value: ServerFrame, /) -> None: ...

    def close(self) -> None: ...


class ConnectionEndedError(Exception):
    """The shim connection ended: before the frame was sent (``sent`` False) or before its
    reply came (``sent`` True)."""

    def __init__(self, *, sent: bool) -> None:
        super().__init__("no reply: the shim connection ended")
        self.sent = sent


class _Waiting(Generic[R]):
    """One ask's reply, handed from the reader task to the asking task."""

    def __init__(self) -> None:
        self.answered = trio.Event()
        self.reply: R | None = None


class ShimReplies(Generic[R]):
    """Asks that wait for the shim's reply by ``call_id``; safe to use concurrently. Owns
    ``outbox`` (a clone of the connection's outbox send end) and closes it in :meth:`close`."""

    def __init__(self, outbox: FrameOutbox) -> None:
        self._outbox = outbox
        self._waiting: dict[str, _Waiting[R]] = {}
        self._closed = False

    async def ask(self, call_id: str, frame: ServerFrame) -> R:
        """Send ``frame`` and return the reply delivered for ``call_id``.

        Raises :class:`ConnectionEndedError` when the connection ends first, and
        :class:`ValueError` when an ask with the same ``call_id`` is still waiting.
        """
        if self._closed:
            raise ConnectionEndedError(sent=False)
        if call_id in self._waiting:
            raise ValueError(f"call {call_id!r} is already waiting for its reply")
        waiting = _Waiting[R]()
        self._waiting[call_id] = waiting
        try:
            try:
                await self._outbox.send(frame)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                raise ConnectionEndedError(sent=False) from None
            await waiting.answered.wait()
        finally:
            # Also on cancellation (a caller's timeout): a late reply is then ignored.
            self._waiting.pop(call_id, None)
        if waiting.reply is None:
            raise ConnectionEndedError(sent=True)
        return waiting.reply

    def deliver(self, call_id: str, reply: R) -> bool:
        """Hand ``reply`` to the ask waiting for ``call_id``; False when none waits (late or
        unknown)."""
        waiting = self._waiting.get(call_id)
        if waiting is None or waiting.answered.is_set():
            logger.debug("reply for no waiting call", extra={"call_id": call_id})
            return False
        waiting.reply = reply
        waiting.answered.set()
        return True

    @property
    def waiting(self) -> int:
        """Asks sent to the shim and not answered yet."""
        return len(self._waiting)

    def close(self) -> None:
        """Fail every waiting ask and refuse new ones (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._outbox.close()
        for waiting in self._waiting.values():
            waiting.answered.set()  # no reply: ask() raises ConnectionEndedError
