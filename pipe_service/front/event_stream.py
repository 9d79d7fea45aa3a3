"""The streamed answer (Server-Sent Events) both OpenAI fronts share: the HTTP response, and the
body that renders a turn's items as they come.

Synopsis::

    return event_stream_response(TurnEventStream(turn, ChatChunkRender(...)))
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable
from typing import Protocol

import trio
from quart import Response

from pipe_service.chat.events import Failed
from pipe_service.chat.failure import INTERNAL_ERROR
from pipe_service.chat.turn_request import TurnOutput
from pipe_service.front.turn_door import AdmittedTurn

logger = logging.getLogger("pipe_service.front.event_stream")


def event_stream_response(body: AsyncIterable[bytes]) -> Response:
    """A ``text/event-stream`` response for ``body``: never cached, never buffered by a proxy,
    and without Quart's response timeout (a long answer is not a stuck one)."""
    response = Response(body, content_type="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    response.timeout = None
    return response


class StreamRender(Protocol):
    """How one front writes a turn's items as SSE bytes."""

    @property
    def finished(self) -> bool:
        """The terminal frame has been rendered; nothing follows it."""
        ...

    def opening(self) -> list[bytes]:
        """What the stream starts with, before the turn's first item."""
        ...

    def render(self, item: TurnOutput) -> list[bytes]:
        """The frames for ``item``; a terminal item (completed, failed) finishes the render."""
        ...


class TurnEventStream:
    """The streamed body of an admitted turn: its items rendered by ``render``, every frame
    rendered so far sent in one write (fewer sends under load).

    Quart calls :meth:`aclose` when the body ends or the client goes away; that leaves the
    turn's context, which cancels the turn and its upstream stream. A turn that ends without a
    terminal item ends the stream as an internal failure.
    """

    def __init__(self, turn: AdmittedTurn, render: StreamRender) -> None:
        self._turn = turn
        self._render = render
        self._pending = render.opening()
        self._first: TurnOutput | None = turn.first

    def __aiter__(self) -> TurnEventStream:
        return self

    async def __anext__(self) -> bytes:
        while not self._pending:
            if self._render.finished:
                await self.aclose()
                raise StopAsyncIteration
            self._pending.extend(self._render.render(await self._next_item()))
        chunk = b"".join(self._pending)
        self._pending.clear()
        return chunk

    async def _next_item(self) -> TurnOutput:
        if self._first is not None:
            item, self._first = self._first, None  # observed at the door
            return item
        turn = self._turn
        try:
            item = await turn.handle.receive()
        except trio.EndOfChannel:  # the turn ended (or crashed) without a terminal
            turn.trace.fail("internal")
            ended = Failed(
                code=INTERNAL_ERROR,
                message="the answer ended unexpectedly",
                error_type=None,
                response_id=None,
            )
            logger.error(
                "turn ended without a terminal event", extra={"error_id": ended.failure.error_id}
            )
            return ended
        turn.gateway.telemetry.observe(turn.trace, item)
        return item

    async def aclose(self) -> None:
        if not self._render.finished:
            self._turn.trace.fail("cancelled", outcome="cancelled")  # the client went away
        await self._turn.exits.aclose()
