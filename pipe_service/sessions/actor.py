"""The sessions actor: runs every chat turn in its own task, under one nursery it owns.

Front handlers cannot own a turn's task themselves: an HTTP handler must pick its status code
from the turn's first event and then return, while the turn keeps streaming into the response
body. So the turn runs here, and the handler holds a :class:`TurnHandle` (a bounded outbox and
a cancel scope). Leaving the handle's ``async with`` — normal end, client gone, stop button —
cancels the turn, upstream stream included.

Synopsis::

    sessions = await supervisor.start(ActorSpec("sessions", run, args=(deps,)))
    async with sessions.open_turn(request) as turn:
        first = await turn.receive()
        async for event in turn: ...
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Generic, NoReturn, TypeVar

import trio

logger = logging.getLogger("pipe_service.pipe_service.sessions.actor")

T = TypeVar("T")

TURN_OUTBOX_SIZE = 32
"""Events buffered between a turn and its renderer; a slow client back-pressures upstream."""

TurnBody = Callable[[trio.MemorySendChannel[T]], Awaitable[None]]


@dataclass(frozen=True)
class SessionStatistics:
    active: int
    started: int
    finished: int
    crashed: int


class TurnHandle(Generic[T]):
    """The renderer's end of one running turn."""

    def __init__(self, receive: trio.MemoryReceiveChannel[T], scope: trio.CancelScope) -> None:
        self._receive = receive
        self._scope = scope

    async def receive(self) -> T:
        return await self._receive.receive()

    def __aiter__(self) -> AsyncIterator[T]:
        return self._receive.__aiter__()

    def cancel(self) -> None:
        self._scope.cancel()


class Sessions:
    """Handle returned by :func:`run`; starts turns in the actor's nursery."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self.active = 0
        self.started = 0
        self.finished = 0
        self.crashed = 0

    @asynccontextmanager
    async def open_turn(self, body: TurnBody[T]) -> AsyncIterator[TurnHandle[T]]:
        """Run ``body(send)`` as a turn; the turn is cancelled when this block exits."""
        send, receive = trio.open_memory_channel[T](TURN_OUTBOX_SIZE)
        scope: trio.CancelScope = await self._nursery.start(self._turn_task, body, send)
        try:
            async with receive:
                yield TurnHandle(receive, scope)
        finally:
            scope.cancel()

    async def _turn_task(
        self,
        body: TurnBody[T],
        send: trio.MemorySendChannel[T],
        *,
        task_status: trio.TaskStatus[trio.CancelScope] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        self.active += 1
        self.started += 1
        try:
            with trio.CancelScope() as scope:
                task_status.started(scope)
                try:
                    await body(send)
                except trio.BrokenResourceError:
                    pass  # the renderer left (client gone); nothing more to deliver
                except Exception:
                    # The error boundary of one turn: log it and end this turn only.
                    self.crashed += 1
                    logger.exception("chat turn crashed")
        finally:
            send.close()  # the renderer sees end-of-stream whatever happened to the body
            self.active -= 1
            self.finished += 1

    def statistics(self) -> SessionStatistics:
        return SessionStatistics(
            active=self.active, started=self.started, finished=self.finished, crashed=self.crashed
        )


async def run(*, task_status: trio.TaskStatus[Sessions] = trio.TASK_STATUS_IGNORED) -> NoReturn:
    """Own the nursery every turn runs in.

    Consumes nothing (turns are started through the :class:`Sessions` handle); ``started()``
    returns that handle. Resource handling: each turn owns its outbox send end and closes it;
    on shutdown the nursery is cancelled, which cancels every running turn and its upstream
    stream. Error handling: a turn's exception is caught at the turn (logged, counted) and never
    reaches this actor, so one bad request cannot restart the others.
    """
    async with trio.open_nursery() as nursery:
        task_status.started(Sessions(nursery))
        await trio.sleep_forever()
    raise AssertionError("unreachable")
