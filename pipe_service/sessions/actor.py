"""The sessions actor: runs every chat turn in its own task, under one nursery it owns.

Front handlers cannot own a turn's task themselves: an HTTP handler must pick its status code
from the turn's first event and then return, while the turn keeps streaming into the response
body. So the turn runs here, and the handler holds a :class:`TurnHandle` (a bounded outbox and
a cancel scope). Leaving the handle's ``async with`` — normal end, client gone, stop button —
cancels the turn, upstream stream included.

Each turn also gets a *cut scope* (not yet entered) that the body enters around its work: when
the sidecar stops, this actor gives every live cut scope a deadline ``drain_s`` later — one
assignment per turn, no watcher task per turn — so a turn still running then is cut and can say
so instead of being dropped mid-answer.

Synopsis::

    sessions = Sessions(ShutdownPolicy(supervisor.wait_shutdown_requested, drain_s=8))
    await supervisor.start(ActorSpec("sessions", run, args=(sessions,), restart=policy))
    async with sessions.open_turn(body) as turn:      # body(send, cut_scope)
        first = await turn.receive()
        async for event in turn: ...
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Generic, NoReturn, TypeVar

import trio

from pipe_service.sessions.outbox import Merge, OutboxReceiver, OutboxSender, open_outbox

logger = logging.getLogger("pipe_service.sessions.actor")

T = TypeVar("T")

DEFAULT_TURN_OUTBOX_SIZE = 32
"""Events buffered between a turn and its renderer (``streaming.turn_outbox_size``)."""

TurnBody = Callable[[OutboxSender[T], trio.CancelScope], Awaitable[None]]
"""``body(send, cut)``: write the turn's items to ``send`` (and close it); run the work inside
``cut``, which shutdown cancels ``drain_s`` after it is requested."""


@dataclass(frozen=True)
class ShutdownPolicy:
    """How running turns end when the sidecar stops: ``drain_s`` after ``wait_requested``
    returns they are cut (shorter than the front's graceful timeout, so a notice still reaches
    the client)."""

    wait_requested: Callable[[], Awaitable[None]]
    drain_s: float


@dataclass(frozen=True)
class SessionStatistics:
    active: int
    started: int
    finished: int
    crashed: int


class TurnHandle(Generic[T]):
    """The renderer's end of one running turn."""

    def __init__(self, receive: OutboxReceiver[T], scope: trio.CancelScope) -> None:
        self._receive = receive
        self._scope = scope

    async def receive(self) -> T:
        return await self._receive.receive()

    def __aiter__(self) -> AsyncIterator[T]:
        return self._receive.__aiter__()

    def cancel(self) -> None:
        self._scope.cancel()


class Sessions:
    """Starts turns in the actor's nursery. Built once by the service and passed to every run
    of the actor, so the handle the gateway holds survives a restart of the actor."""

    def __init__(
        self, shutdown: ShutdownPolicy | None = None, *, outbox_size: int = DEFAULT_TURN_OUTBOX_SIZE
    ) -> None:
        """``outbox_size``: events buffered between a turn and its renderer; a slow client
        back-pressures the turn (and its upstream stream) once it is full."""
        self.shutdown = shutdown
        self.outbox_size = outbox_size
        self._nursery: trio.Nursery | None = None
        self._running = trio.Event()
        self._cut_scopes: set[trio.CancelScope] = set()
        self._cut_deadline = math.inf
        self.active = 0
        self.started = 0
        self.finished = 0
        self.crashed = 0

    @asynccontextmanager
    async def open_turn(
        self, body: TurnBody[T], *, merge: Merge[T] | None = None
    ) -> AsyncIterator[TurnHandle[T]]:
        """Run ``body(send, cut)`` as a turn; the turn is cancelled when this block exits.

        ``merge``: the outbox merges items sent while the renderer is busy with it
        (:mod:`pipe_service.sessions.outbox`); without it the outbox is a plain FIFO.

        While the actor is restarting, waits until it runs again (the supervisor's backoff).
        """
        while self._nursery is None:
            await self._running.wait()
        outbox: tuple[OutboxSender[T], OutboxReceiver[T]] = open_outbox(
            self.outbox_size, merge=merge
        )
        send, receive = outbox
        scope: trio.CancelScope = await self._nursery.start(self._turn_task, body, send)
        try:
            async with receive:
                yield TurnHandle(receive, scope)
        finally:
            scope.cancel()

    async def _turn_task(
        self,
        body: TurnBody[T],
        send: OutboxSender[T],
        *,
        task_status: trio.TaskStatus[trio.CancelScope] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """The error boundary of one turn: whatever the body raises ends this turn only."""
        self.active += 1
        self.started += 1
        cut = trio.CancelScope(deadline=self._cut_deadline)
        self._cut_scopes.add(cut)
        try:
            with trio.CancelScope() as scope:
                task_status.started(scope)
                try:
                    await body(send, cut)
                except* trio.BrokenResourceError:
                    pass  # the renderer left (client gone); nothing more to deliver
                except* Exception as group:
                    # Cancelled (a BaseException) is not matched here: it reaches its own scope.
                    self.crashed += 1
                    logger.error("chat turn crashed", exc_info=group)
        finally:
            self._cut_scopes.discard(cut)
            send.close()  # the renderer sees end-of-stream whatever happened to the body
            self.active -= 1
            self.finished += 1

    def _cut_all_at(self, deadline: float) -> None:
        self._cut_deadline = deadline
        for scope in self._cut_scopes:
            scope.deadline = min(scope.deadline, deadline)

    def statistics(self) -> SessionStatistics:
        return SessionStatistics(
            active=self.active, started=self.started, finished=self.finished, crashed=self.crashed
        )


async def run(
    sessions: Sessions, *, task_status: trio.TaskStatus[Sessions] = trio.TASK_STATUS_IGNORED
) -> NoReturn:
    """Own the nursery every turn runs in, and cut live turns at shutdown.

    Consumes nothing (turns are started through the :class:`Sessions` handle); ``started()``
    returns that handle. Resource handling: each turn owns its outbox send end and closes it;
    once shutdown is requested every live turn's cut scope (and every later one's) gets the
    deadline ``drain_s`` away; when this actor is cancelled its nursery cancels every running
    turn and its upstream stream. Error handling: a turn's exception is caught at the turn
    (logged, counted) and never reaches this actor, so one bad request cannot restart the
    others; if the actor itself crashes, the supervisor restarts it and new turns wait for it.
    """
    try:
        async with trio.open_nursery() as nursery:
            sessions._nursery = nursery
            sessions._running.set()
            task_status.started(sessions)
            if sessions.shutdown is not None:
                await sessions.shutdown.wait_requested()
                sessions._cut_all_at(trio.current_time() + sessions.shutdown.drain_s)
            await trio.sleep_forever()
    finally:
        sessions._nursery = None
        sessions._running = trio.Event()
    raise AssertionError("unreachable")
