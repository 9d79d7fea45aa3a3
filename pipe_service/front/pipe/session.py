"""One shim-protocol session: hello → welcome → request → frames → terminal frame → close.

Tasks of one session (all in the endpoint's nursery, so a closed socket cancels them all)::

    conversation ──frames──▶ outbox (streaming.pipe_outbox_size) ──▶ writer ──▶ socket
      │  reads hello/request, runs the turn and renders it
      └─ reader (during the turn): tool_result → executor, cancel → stop, anything else → error
    (a shim that stops reading is cut off below, by the front's bounded writes)

The conversation owns the outbox's send end; the writer drains it, then closes the WebSocket, so
the sidecar always closes first (a client closing first races hypercorn's close; see
reference/trio-stack.md, WebSocket addendum).
"""

from __future__ import annotations

import logging
from typing import Protocol

import trio

from pipe_service import __version__
from pipe_service.catalog.actor import CatalogUnavailableError
from pipe_service.catalog.registry import UnknownModelError
from pipe_service.chat.gateway import ChatGateway
from pipe_service.chat.turn_request import TurnOutput
from pipe_service.front.pipe.render import TurnRenderer, error_frame_for
from pipe_service.front.pipe.request import TurnArguments, map_request
from pipe_service.front.pipe.tools import ShimToolExecutor
from pipe_service.front.pipe.transport import CLOSE_LIMIT_S
from pipe_service.protocol import (
    Cancel,
    ClientFrame,
    Error,
    ErrorCode,
    Hello,
    Limits,
    ProtocolError,
    Request,
    ServerFrame,
    ToolResult,
    Welcome,
    encode,
    negotiate,
    parse_client_frame,
)
from pipe_service.sessions.actor import TurnHandle
from pipe_service.tools.contract import ToolContext

logger = logging.getLogger("pipe_service.front.pipe.session")

NORMAL_CLOSURE = 1000


class FrameSocket(Protocol):
    """The three WebSocket calls a session makes (quart's ``Websocket`` has them; unit tests
    pass trio-websocket over a ``trio.testing.memory_stream_pair``)."""

    async def receive(self) -> str | bytes | None: ...

    async def send(self, data: str | bytes) -> None: ...

    async def close(self, code: int) -> None: ...


class PipeSession:
    """Serve one WebSocket connection of the shim protocol."""

    def __init__(
        self,
        websocket: FrameSocket,
        gateway: ChatGateway,
        *,
        outbox_size: int,
        send_stall_s: float,
        handshake_timeout_s: float,
    ) -> None:
        self._ws = websocket
        self._gateway = gateway
        self._outbox_size = outbox_size
        self._send_stall_s = send_stall_s
        self._handshake_timeout_s = handshake_timeout_s
        self._scope = trio.CancelScope()

    async def run(self) -> None:
        """Run the session to its end; returns once the socket is closed (or cut)."""
        send, receive = trio.open_memory_channel[ServerFrame](self._outbox_size)
        with self._scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._write_frames, receive)
                async with send:
                    await self._converse(send)

    # -- the conversation -------------------------------------------------------------------

    async def _converse(self, outbox: trio.MemorySendChannel[ServerFrame]) -> None:
        try:
            await self._handshake_and_serve(outbox)
        except ProtocolError as exc:
            logger.info("shim protocol error", extra={"code": exc.code, "reason": exc.message})
            await outbox.send(error_frame_for(exc, self._gateway))

    async def _handshake_and_serve(self, outbox: trio.MemorySendChannel[ServerFrame]) -> None:
        hello = await self._receive_handshake_frame()
        if not isinstance(hello, Hello):
            raise ProtocolError(
                ErrorCode.OUT_OF_ORDER, f"the first frame must be 'hello', not {hello.type!r}"
            )
        version = negotiate(hello)
        limits = Limits(
            handshake_timeout_s=self._handshake_timeout_s, send_stall_s=self._send_stall_s
        )
        await outbox.send(Welcome(protocol=version, sidecar_version=__version__, limits=limits))
        request = await self._receive_handshake_frame()
        if isinstance(request, Cancel):
            return  # the shim gave up before asking; nothing to answer
        if not isinstance(request, Request):
            raise ProtocolError(
                ErrorCode.OUT_OF_ORDER, f"expected a 'request' frame, not {request.type!r}"
            )
        await self._serve(request, outbox)

    async def _receive_handshake_frame(self) -> ClientFrame:
        with trio.move_on_after(self._handshake_timeout_s):
            return _parse(await self._ws.receive())
        raise ProtocolError(
            ErrorCode.TIMEOUT, f"no frame within {self._handshake_timeout_s:g} s of the last one"
        )

    async def _serve(self, frame: Request, outbox: trio.MemorySendChannel[ServerFrame]) -> None:
        arguments = map_request(frame, defaults=self._gateway.options)
        try:
            model = self._gateway.resolve_model(frame.model)
        except (UnknownModelError, CatalogUnavailableError) as exc:
            await outbox.send(error_frame_for(exc, self._gateway))
            return
        executor = None
        if arguments.tool_specs and arguments.tool_mode == "pipeline":
            executor = ShimToolExecutor(outbox.clone())
        renderer = TurnRenderer(
            arguments.render,
            whole_answer=arguments.whole_answer,
            task=arguments.task is not None,
            model=model.slug,
            started_at=trio.current_time(),
            wording=self._gateway,
        )
        try:
            async with self._gateway.open_turn(
                arguments.body,
                model=model,
                stream=arguments.stream,
                api_key=arguments.api_key,
                user=arguments.user,
                identity=arguments.identity,
                task=arguments.task,
                tools=_tool_context(arguments, executor),
                options=arguments.options,
            ) as handle:
                stop = await self._relay_while_reading(handle, renderer, outbox, executor)
        finally:
            if executor is not None:
                executor.close()
        if stop is not None:
            await outbox.send(stop)

    async def _relay_while_reading(
        self,
        handle: TurnHandle[TurnOutput],
        renderer: TurnRenderer,
        outbox: trio.MemorySendChannel[ServerFrame],
        executor: ShimToolExecutor | None,
    ) -> ServerFrame | None:
        """Relay the turn while reading the shim; returns the frame that ends the request
        early (cancelled, or a protocol error), or None when the turn ran to its end."""
        stop: ServerFrame | None = None
        async with trio.open_nursery() as nursery:

            async def relay_then_stop_reading() -> None:
                await self._relay(handle, renderer, outbox)
                nursery.cancel_scope.cancel()

            nursery.start_soon(relay_then_stop_reading)
            stop = await self._read_during_turn(executor)
            nursery.cancel_scope.cancel()  # the shim ended the request: stop the turn
        return stop

    async def _relay(
        self,
        handle: TurnHandle[TurnOutput],
        renderer: TurnRenderer,
        outbox: trio.MemorySendChannel[ServerFrame],
    ) -> None:
        async for item in handle:
            for frame in renderer.render(item, now=trio.current_time()):
                await outbox.send(frame)
            if renderer.finished:
                return
        await outbox.send(renderer.ended_without_terminal())

    async def _read_during_turn(self, executor: ShimToolExecutor | None) -> ServerFrame:
        """Route the shim's frames while the turn runs; return the frame that stops it (on
        cancel or a bad frame). Runs until cancelled otherwise."""
        try:
            while True:
                frame = _parse(await self._ws.receive())
                if isinstance(frame, ToolResult) and executor is not None:
                    executor.deliver(frame)
                elif isinstance(frame, Cancel):
                    logger.info("shim cancelled the request")
                    return Error(code=ErrorCode.CANCELLED, message="request cancelled")
                else:
                    raise ProtocolError(
                        ErrorCode.OUT_OF_ORDER, f"unexpected {frame.type!r} frame during a request"
                    )
        except ProtocolError as exc:
            logger.info("shim protocol error", extra={"code": exc.code, "reason": exc.message})
            return error_frame_for(exc, self._gateway)

    # -- the writer ---------------------------------------------------------------------------

    async def _write_frames(self, frames: trio.MemoryReceiveChannel[ServerFrame]) -> None:
        """Send every outbox frame in order, then close the WebSocket (server closes first)."""
        async with frames:
            async for frame in frames:
                try:
                    await self._ws.send(encode(frame))
                except trio.BusyResourceError:
                    self._gone("send")
                    return
        with trio.move_on_after(CLOSE_LIMIT_S):
            try:
                await self._ws.close(NORMAL_CLOSURE)
            except trio.BusyResourceError:
                self._gone("close")

    def _gone(self, during: str) -> None:
        # hypercorn is closing the connection under us (the peer left): benign, stop here.
        logger.debug("connection closed by the peer", extra={"during": during})
        self._scope.cancel()


def _parse(raw: str | bytes | None) -> ClientFrame:
    if raw is None:  # quart-trio hands over an empty binary message as None
        raise ProtocolError(ErrorCode.BAD_FRAME, "frame is empty")
    return parse_client_frame(raw)


def _tool_context(
    arguments: TurnArguments, executor: ShimToolExecutor | None
) -> ToolContext | None:
    if not arguments.tool_specs and arguments.tool_mode == "pipeline":
        return None
    return ToolContext(
        executor=executor,
        specs=arguments.tool_specs,
        passthrough=arguments.tool_mode == "passthrough",
        user_id=arguments.identity.user_id,
    )


