"""The private channel between the supervisor process and one worker: JSON lines both ways.

Each side may *call* the other (a message with an ``id``, answered by a message with
``reply`` set to that id) or *notify* it (no ``id``, no answer). The supervisor calls a worker
to apply live settings, refresh its catalog or report its status and metrics; a worker calls
the supervisor when an operator route (``pipe-service set``, reload, catalog refresh,
``/status``, ``/metrics``) must reach every worker. Calls in both directions share the one
socket and may be in flight at once (the supervisor calls a worker back while that worker
waits for its own call to be answered).

The channel is one end of a ``socketpair`` the supervisor creates per worker run: only the
two processes hold it, so it needs no authentication.

Synopsis::

    channel = ControlChannel(trio.SocketStream(sock), peer="supervisor")
    await nursery.start(channel.serve, answer)        # answer(message) -> reply body
    with trio.fail_after(5):
        body = await channel.call({"op": "status"})
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio

logger = logging.getLogger("pipe_service.workers")

MAX_MESSAGE_BYTES = 32 * 1024 * 1024
"""A longer line is a broken peer: the channel closes rather than buffer without bound."""
READ_BYTES = 65536

Message = dict[str, Any]
Answer = Callable[[Message], Awaitable[Message]]


class ControlChannelClosedError(Exception):
    """The other process closed the channel (it stopped or died) or it broke."""


class ControlCallFailedError(Exception):
    """The other side's answer raised; ``str()`` is its error type and message."""


@dataclass
class _Pending:
    done: trio.Event = field(default_factory=trio.Event)
    reply: Message | None = None


class ControlChannel:
    """Calls and notices over one stream; :meth:`serve` must run for calls to be answered."""

    def __init__(self, stream: trio.abc.Stream, *, peer: str) -> None:
        self.peer = peer
        self._stream = stream
        self._send_lock = trio.Lock()
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._closed = False

    @classmethod
    def from_fd(cls, fd: int, *, peer: str) -> ControlChannel:
        """The channel over an inherited socket descriptor (the worker's end)."""
        sock = socket.socket(fileno=fd)
        return cls(trio.SocketStream(trio.socket.from_stdlib_socket(sock)), peer=peer)

    @property
    def closed(self) -> bool:
        return self._closed

    async def call(self, message: Message) -> Message:
        """Send ``message`` and wait for the answer's body; bound it with ``fail_after``.

        Raises :class:`ControlChannelClosedError` when the channel closes first and
        :class:`ControlCallFailedError` when the other side's answer raised."""
        if self._closed:
            raise ControlChannelClosedError(f"the channel to the {self.peer} is closed")
        call_id = next(self._ids)
        pending = self._pending[call_id] = _Pending()
        try:
            await self._send({**message, "id": call_id})
            await pending.done.wait()
        finally:
            del self._pending[call_id]
        reply = pending.reply
        if reply is None:
            raise ControlChannelClosedError(f"the {self.peer} closed the channel before answering")
        if "error" in reply:
            raise ControlCallFailedError(str(reply["error"]))
        body: Message = reply.get("body") or {}
        return body

    async def notify(self, message: Message) -> None:
        """Send ``message`` without waiting for (or getting) an answer."""
        await self._send(message)

    async def serve(
        self, answer: Answer, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Read messages until the other side closes the channel: replies wake their
        :meth:`call`, calls and notices go to ``answer`` (each in its own task, so a slow
        answer delays no other message).

        ``started()`` returns ``None`` once messages are read. Resource handling: closes the
        stream when the other side has (pending calls then raise ControlChannelClosedError).
        Error handling: ``answer`` raising ``Exception`` becomes an error reply (logged); an
        unreadable line is logged and skipped; a line over MAX_MESSAGE_BYTES closes the channel.
        """
        buffer = b""
        try:
            async with trio.open_nursery() as answering:
                task_status.started()
                while True:
                    try:
                        chunk = await self._stream.receive_some(READ_BYTES)
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        chunk = b""
                    if not chunk:
                        break
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    if len(buffer) > MAX_MESSAGE_BYTES:
                        logger.error("control channel to the %s: message too long", self.peer)
                        break
                    for line in lines:
                        self._dispatch(line, answer, answering)
                # Answers still running cannot be sent any more.
                answering.cancel_scope.cancel()
        finally:
            self._close_pending()
            with trio.move_on_after(1, shield=True):
                await self._stream.aclose()

    async def aclose(self) -> None:
        self._close_pending()
        await self._stream.aclose()

    def _dispatch(self, line: bytes, answer: Answer, answering: trio.Nursery) -> None:
        try:
            message = json.loads(line)
            if not isinstance(message, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            logger.error("control channel to the %s: unreadable message (%s)", self.peer, exc)
            return
        reply_to = message.get("reply")
        if isinstance(reply_to, int):
            pending = self._pending.get(reply_to)
            if pending is not None:  # else the caller gave up waiting
                pending.reply = message
                pending.done.set()
            return
        answering.start_soon(self._answer, message, answer)

    async def _answer(self, message: Message, answer: Answer) -> None:
        call_id = message.get("id")
        try:
            reply: Message = {"reply": call_id, "body": await answer(message)}
        except Exception as exc:  # the unit of work: one answer fails, the channel serves on
            logger.exception("control channel: answering %r failed", message.get("op"))
            reply = {"reply": call_id, "error": f"{type(exc).__name__}: {exc}"[:500]}
        if call_id is None:
            return
        with contextlib.suppress(ControlChannelClosedError):  # the caller is gone
            await self._send(reply)

    async def _send(self, message: Message) -> None:
        line = json.dumps(message, separators=(",", ":")).encode() + b"\n"
        try:
            async with self._send_lock:
                await self._stream.send_all(line)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._closed = True
            raise ControlChannelClosedError(f"the channel to the {self.peer} is closed") from exc

    def _close_pending(self) -> None:
        self._closed = True
        for pending in self._pending.values():
            pending.done.set()  # reply None: ControlChannelClosedError in call()
