"""One shim-protocol session: hello → welcome → request → frames → terminal frame → close.

Tasks of one session (all in the endpoint's nursery, so a closed socket cancels them all)::

    conversation ──frames──▶ outbox (streaming.pipe_outbox_size) ──▶ writer ──▶ socket
      │  reads hello/request, runs the turn and renders it
      │  a generated image: store_file out, the relay waits for its file_stored
      └─ reader (during the turn): tool_result → executor, file_stored → file store,
         cancel → stop, anything else → error
    (a shim that stops reading is cut off below, by the front's bounded writes)

The conversation owns the outbox's send end; the writer drains it, then closes the WebSocket, so
the sidecar always closes first (a client closing first races hypercorn's close; see
reference/trio-stack.md, WebSocket addendum).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

import trio

from pipe_service import __version__
from pipe_service.admission.byte_budget import ByteBudget, ByteBudgetExceededError
from pipe_service.catalog.actor import CatalogUnavailableError
from pipe_service.catalog.registry import UnknownModelError
from pipe_service.chat.events import Completed, GeneratedImage, Status, TextDelta
from pipe_service.chat.gateway import ChatGateway
from pipe_service.chat.turn_request import TurnOutput
from pipe_service.front.pipe.files import FileNotStoredError, ShimFileStore
from pipe_service.front.pipe.rehost import rehost_linked_images
from pipe_service.front.pipe.render import TurnRenderer, error_frame_for, merge_text_frames
from pipe_service.front.pipe.request import TurnArguments, map_request
from pipe_service.front.pipe.tools import ShimToolExecutor
from pipe_service.front.pipe.transport import CLOSE_LIMIT_S
from pipe_service.media.intake import MediaIntake
from pipe_service.protocol import (
    MAX_SERVER_FRAME_BYTES,
    Cancel,
    ClientFrame,
    Error,
    ErrorCode,
    FileStored,
    Hello,
    Limits,
    ProtocolError,
    Request,
    ServerFrame,
    ToolResult,
    Welcome,
    encode,
    frame_size,
    negotiate,
    parse_client_frame,
)
from pipe_service.sessions.actor import TurnHandle
from pipe_service.sessions.outbox import OutboxReceiver, OutboxSender, open_outbox
from pipe_service.telemetry.trace import RequestTrace
from pipe_service.tools.contract import ToolContext

logger = logging.getLogger("pipe_service.front.pipe.session")

NORMAL_CLOSURE = 1000
MAX_HELLO_FRAME_BYTES = 64 * 1024
DEFAULT_STORE_TIMEOUT_S = 30.0
"""Used when the gateway has no media settings (tests that build a bare gateway)."""
MAX_STORE_FILE_B64_CHARS = MAX_SERVER_FRAME_BYTES - 64 * 1024
"""A ``store_file`` frame must fit in one server frame (the rest is the frame's other fields)."""


class FrameSocket(Protocol):
    """The WebSocket calls a session makes (quart's ``Websocket`` has them; unit tests pass
    trio-websocket over a ``trio.testing.memory_stream_pair``)."""

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
        byte_budget: ByteBudget,
        busy_retry_after_s: int,
    ) -> None:
        self._ws = websocket
        self._gateway = gateway
        self._outbox_size = outbox_size
        self._send_stall_s = send_stall_s
        self._handshake_timeout_s = handshake_timeout_s
        self._byte_budget = byte_budget
        self._busy_retry_after_s = busy_retry_after_s
        media = gateway.media
        self._store_timeout_s = (
            media.settings.store_timeout_s if media is not None else DEFAULT_STORE_TIMEOUT_S
        )
        self._scope = trio.CancelScope()

    async def run(self) -> None:
        """Run the session to its end; returns once the socket is closed (or cut)."""
        # Text frames queued while the writer is busy merge (adaptive coalescing at the
        # client's own writer): an idle writer sends each one at once.
        outbox: tuple[OutboxSender[ServerFrame], OutboxReceiver[ServerFrame]] = open_outbox(
            self._outbox_size, merge=merge_text_frames
        )
        send, receive = outbox
        with self._scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._write_frames, receive)
                async with send:
                    await self._converse(send)

    # -- the conversation -------------------------------------------------------------------

    async def _converse(self, outbox: OutboxSender[ServerFrame]) -> None:
        try:
            await self._handshake_and_serve(outbox)
        except ProtocolError as exc:
            logger.info("shim protocol error", extra={"code": exc.code, "reason": exc.message})
            await outbox.send(error_frame_for(exc, self._gateway))

    async def _handshake_and_serve(self, outbox: OutboxSender[ServerFrame]) -> None:
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
        raw = await self._receive_handshake_raw()
        # The request frame's bytes are admitted before it is parsed, and stay reserved until
        # the request ends: the parsed body lives as long as the turn does.
        size = frame_size(raw) if raw is not None else 0
        reservation = self._byte_budget.try_reserve(size)
        if reservation is None:
            error = ByteBudgetExceededError(
                size, self._byte_budget.statistics(), retry_after_s=self._busy_retry_after_s
            )
            logger.info("request refused: byte budget", extra={"bytes": size})
            await outbox.send(error_frame_for(error, self._gateway))
            return
        with reservation:
            request = _parse(raw)
            del raw  # the parsed frame is all that is needed from here on
            if isinstance(request, Cancel):
                return  # the shim gave up before asking; nothing to answer
            if not isinstance(request, Request):
                raise ProtocolError(
                    ErrorCode.OUT_OF_ORDER, f"expected a 'request' frame, not {request.type!r}"
                )
            await self._serve(request, outbox)

    async def _receive_handshake_frame(self) -> ClientFrame:
        raw = await self._receive_handshake_raw()
        if raw is not None and frame_size(raw) > MAX_HELLO_FRAME_BYTES:
            # Only the request frame may be large (and it is admitted by bytes); a hello is tiny.
            raise ProtocolError(
                ErrorCode.FRAME_TOO_LARGE,
                f"a 'hello' frame is at most {MAX_HELLO_FRAME_BYTES} bytes",
            )
        return _parse(raw)

    async def _receive_handshake_raw(self) -> str | bytes | None:
        with trio.move_on_after(self._handshake_timeout_s):
            return await self._ws.receive()
        raise ProtocolError(
            ErrorCode.TIMEOUT, f"no frame within {self._handshake_timeout_s:g} s of the last one"
        )

    async def _serve(self, frame: Request, outbox: OutboxSender[ServerFrame]) -> None:
        arguments = map_request(frame, defaults=self._gateway.options)
        with self._gateway.telemetry.track_request(
            front="pipe",
            model=frame.model,
            stream=arguments.stream,
            user_id=arguments.identity.user_id,
            chat_id=arguments.identity.chat_id,
            show_timing=arguments.render.show_timing,
        ) as trace:
            await self._serve_traced(frame, arguments, outbox, trace)

    async def _serve_traced(
        self,
        frame: Request,
        arguments: TurnArguments,
        outbox: OutboxSender[ServerFrame],
        trace: RequestTrace,
    ) -> None:
        try:
            model = self._gateway.resolve_model(frame.model)
        except (UnknownModelError, CatalogUnavailableError) as exc:
            trace.fail("unknown_model" if isinstance(exc, UnknownModelError) else "catalog")
            await outbox.send(error_frame_for(exc, self._gateway))
            return
        trace.model = model.slug
        tools = arguments.body.get("tools")
        logger.info(
            "chat request",
            extra={
                "model": model.slug,
                "stream": arguments.stream,
                "task": arguments.task,
                "tool_mode": arguments.tool_mode,
                "tools": len(tools) if isinstance(tools, list) else 0,
                # What Open WebUI's tool schemas cost on every upstream call (BUILTIN_TOOLS).
                "tools_bytes": _json_size(tools) if tools else 0,
            },
        )
        executor = None
        if arguments.tool_specs and arguments.tool_mode == "pipeline":
            executor = ShimToolExecutor(outbox.clone())
        files = ShimFileStore(outbox.clone())
        renderer = TurnRenderer(
            arguments.render,
            whole_answer=arguments.whole_answer,
            task=arguments.task is not None,
            model=model.slug,
            started_at=trio.current_time(),
            wording=self._gateway,
        )
        stop: ServerFrame | None = None  # the shim ended the request early, and how
        try:
            async with (
                self._gateway.open_turn(
                    arguments.body,
                    model=model,
                    stream=arguments.stream,
                    api_key=arguments.api_key,
                    user=arguments.user,
                    identity=arguments.identity,
                    task=arguments.task,
                    tools=_tool_context(arguments, executor),
                    options=arguments.options,
                    attachments=arguments.attachments,
                ) as handle,
                trio.open_nursery() as turn_nursery,
            ):
                # Whichever ends first stops the other: the relay reaching the terminal frame
                # cancels the reader (``stop`` stays None); the reader's verdict cancels the
                # relay.
                turn_nursery.start_soon(
                    self._relay,
                    handle,
                    renderer,
                    outbox,
                    files,
                    trace,
                    turn_nursery.cancel_scope,
                )
                stop = await self._read_during_turn(executor, files)
                turn_nursery.cancel_scope.cancel()
        finally:
            files.close()
            if executor is not None:
                executor.close()
        if stop is not None:
            if isinstance(stop, Error) and stop.code == ErrorCode.CANCELLED:
                trace.fail("cancelled", outcome="cancelled")
            else:
                trace.fail("protocol_error")
            await outbox.send(stop)

    async def _relay(
        self,
        handle: TurnHandle[TurnOutput],
        renderer: TurnRenderer,
        outbox: OutboxSender[ServerFrame],
        files: ShimFileStore,
        trace: RequestTrace,
        turn_scope: trio.CancelScope,
    ) -> None:
        """Render the turn's items to the outbox up to its terminal frame, then stop the
        turn's other task (the reader) through ``turn_scope``."""
        images = 0
        media = self._gateway.media
        rehost = media is not None and media.settings.rehost_linked_images
        answer: list[str] = []
        async for item in handle:
            self._gateway.telemetry.observe(trace, item)
            if isinstance(item, GeneratedImage):
                images += 1
                await self._store_image(item, images, files, renderer, outbox)
                continue
            if rehost and isinstance(item, TextDelta):
                answer.append(item.text)
            elif rehost and isinstance(item, Completed) and media is not None:
                await self._rehost(media, "".join(answer), files, renderer, outbox)
            for frame in renderer.render(item, now=trio.current_time()):
                await outbox.send(frame)
            if renderer.finished:
                break
        else:  # the turn ended without its terminal item
            trace.fail("internal")
            await outbox.send(renderer.ended_without_terminal())
        turn_scope.cancel()

    async def _store_image(
        self,
        image: GeneratedImage,
        number: int,
        files: ShimFileStore,
        renderer: TurnRenderer,
        outbox: OutboxSender[ServerFrame],
    ) -> None:
        """Save a generated image in Open WebUI; the shim shows it in the message.

        A failure (or no answer within ``store_timeout_s``) is told as a status line; the
        answer goes on.
        """
        problem = await self._try_store(image, number, files)
        if problem is None:
            return
        logger.warning("generated image not stored", extra={"reason": problem[:200]})
        status = Status(f"⚠️ The generated image could not be saved: {problem}", done=True)
        for frame in renderer.render(status, now=trio.current_time()):
            await outbox.send(frame)

    async def _try_store(
        self, image: GeneratedImage, number: int, files: ShimFileStore
    ) -> str | None:
        """Store ``image`` through the shim; ``None``, or why it was not stored."""
        if len(image.data_b64) > MAX_STORE_FILE_B64_CHARS:
            return f"{len(image.data_b64) * 3 // 4 / 1_048_576:.1f} MB is too large to send"
        extension = image.mime.split("/", 1)[1].split("+", 1)[0]
        with trio.move_on_after(self._store_timeout_s):
            try:
                stored = await files.store(
                    name=f"generated-image-{number}.{extension}",
                    content_type=image.mime,
                    data_b64=image.data_b64,
                )
            except FileNotStoredError as exc:
                return str(exc)
            logger.info("generated image stored", extra={"file_id": stored.id})
            return None
        return "Open WebUI did not answer in time"

    async def _rehost(
        self,
        media: MediaIntake,
        answer: str,
        files: ShimFileStore,
        renderer: TurnRenderer,
        outbox: OutboxSender[ServerFrame],
    ) -> None:
        """Keep the images the answer links to (before ``done``: the shim is still there)."""
        notes = ["linked images not kept: Open WebUI did not answer in time"]
        with trio.move_on_after(self._store_timeout_s):
            notes = await rehost_linked_images(answer, media.fetcher, files, media.settings)
        for note in notes:
            status = Status(f"⚠️ {note}", done=True)
            for frame in renderer.render(status, now=trio.current_time()):
                await outbox.send(frame)

    async def _read_during_turn(
        self, executor: ShimToolExecutor | None, files: ShimFileStore
    ) -> ServerFrame:
        """Route the shim's frames while the turn runs; returns the frame that ends the request
        early (on ``cancel`` or a bad frame). The relay cancels this once the turn is done."""
        try:
            while True:
                frame = _parse(await self._ws.receive())
                if isinstance(frame, ToolResult) and executor is not None:
                    executor.deliver(frame)
                elif isinstance(frame, FileStored):
                    files.deliver(frame)
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

    async def _write_frames(self, frames: OutboxReceiver[ServerFrame]) -> None:
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


def _json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


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
        max_rounds=arguments.max_tool_rounds,
    )
