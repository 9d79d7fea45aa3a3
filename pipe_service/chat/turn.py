"""One chat turn: build the Responses payload, call OpenRouter, translate what comes back.

The turn writes :data:`~pipe_service.chat.events.TurnEvent` values (and at most one
:class:`TurnError`) into a send channel it owns. Renderers — the OpenAI-compatible API today,
the shim protocol next — read that channel; nothing here knows about HTTP or frames.

A turn whose :class:`ToolContext` has an executor (and is not passthrough) runs the function-call
loop of :mod:`pipe_service.tools.loop`: several upstream runs, tools run in between.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import trio

from pipe_service.chat.events import Completed, Failed, Status
from pipe_service.chat.translate import ResponsesStreamTranslator, translate_response
from pipe_service.chat.turn_request import Emit, TurnError, TurnOutput, TurnRequest
from pipe_service.media.intake import MediaIntake
from pipe_service.openrouter.client import OpenRouterClient
from pipe_service.openrouter.errors import UpstreamError, UpstreamErrorKind
from pipe_service.openrouter.sse import SSEDecoder, SSEProtocolError
from pipe_service.telemetry.trace import mark, phase_timer, time_phase
from pipe_service.tools.loop import offer_tools, run_tool_loop, wants_tool_loop
from pipe_service.tools.registry import ToolRegistry
from pipe_service.transform.payload import (
    add_file_parser,
    build_responses_payload,
    build_task_payload,
)

if TYPE_CHECKING:
    from pipe_service.tools.runner import ToolRunner

MAX_SSE_EVENT_BYTES = 8 * 1024 * 1024

SHUTTING_DOWN = "shutting_down"
"""``Failed.code`` of a turn cut because the sidecar is stopping."""


def build_payload(request: TurnRequest) -> dict[str, Any]:
    """The Responses payload for ``request``; raises ``RequestTransformError`` on bad input."""
    if request.task is not None:
        return build_task_payload(
            request.body, model=request.model, options=request.options, task=request.task
        )
    payload = build_responses_payload(
        request.body,
        model=request.model,
        options=request.options,
        user=request.user,
        identity=request.identity,
        replayed=request.replayed,
    )
    payload["stream"] = request.stream
    return payload


async def run_turn(
    request: TurnRequest,
    client: OpenRouterClient,
    send: trio.MemorySendChannel[TurnOutput],
    *,
    tool_runner: ToolRunner | None = None,
    media: MediaIntake | None = None,
) -> None:
    """Run one turn, writing its events to ``send`` (closed on return).

    Errors before the first event (bad request, upstream HTTP errors once retries are spent)
    are written as one :class:`TurnError`. Once output has started, a failure becomes a
    :class:`Failed` event after the partial output, so renderers keep what the user saw.
    With ``tool_runner`` and a tool executor on the request, tools run in a loop. With
    ``media``, the payload's images, files, audio and video are validated (and attachments
    added) first; what is left out is said in ``Status`` events.
    """
    async with send:
        runner = tool_runner if wants_tool_loop(request) else None
        registry = ToolRegistry.from_specs(request.tools.specs if request.tools else [])
        if runner is not None:
            # Strict only when both allow it: the tool settings and the request's options
            # (where the admin's ENABLE_STRICT_TOOL_CALLING valve lands).
            strict = runner.settings.strict_schemas and request.options.strict_tools
            request = offer_tools(request, registry, strict=strict)
        try:
            with time_phase("transform"):
                payload = build_payload(request)
                if media is not None:
                    payload = await _prepared_media(media, request, payload, send.send)
        except ValueError as exc:  # RequestTransformError is a ValueError naming the field
            await send.send(TurnError(exc))
            return
        if runner is None:
            await run_upstream(request, client, payload, send.send)
            return
        await run_tool_loop(
            request,
            payload,
            registry=registry,
            runner=runner,
            run_once=partial(run_upstream, request, client),
            send=send.send,
        )


async def _prepared_media(
    media: MediaIntake, request: TurnRequest, payload: dict[str, Any], emit: Emit
) -> dict[str, Any]:
    """The payload with its media made safe; each note becomes a done status line."""
    prepared = await media.prepare(payload, model=request.model, attachments=request.attachments)
    for note in prepared.notes:
        await emit(Status(f"⚠️ {note}", done=True))
    if request.task is None:
        add_file_parser(prepared.payload, request.options)  # attachments may have added files
    return prepared.payload


async def run_upstream(
    request: TurnRequest, client: OpenRouterClient, payload: dict[str, Any], emit: Emit
) -> None:
    """One upstream call for ``payload``; its events (or one :class:`TurnError`) go to ``emit``."""
    if not request.stream or request.task is not None:
        await _run_whole(request, client, payload, emit)
    else:
        await _run_streaming(request, client, payload, emit)


async def _run_whole(
    request: TurnRequest,
    client: OpenRouterClient,
    payload: dict[str, Any],
    emit: Emit,
) -> None:
    payload = {**payload, "stream": False}
    try:
        with time_phase("upstream_connect"):
            response = await client.create_response(
                payload, api_key=request.api_key, extra_headers=dict(request.extra_headers)
            )
    except UpstreamError as exc:
        await emit(TurnError(exc))
        return
    for event in translate_response(response):
        await emit(event)


async def _run_streaming(
    request: TurnRequest,
    client: OpenRouterClient,
    payload: dict[str, Any],
    emit: Emit,
) -> None:
    translator = ResponsesStreamTranslator()
    decoder = SSEDecoder(max_event_bytes=MAX_SSE_EVENT_BYTES)
    try:
        stream_cm = client.stream_responses(
            payload, api_key=request.api_key, extra_headers=dict(request.extra_headers)
        )
        connect = phase_timer("upstream_connect")
        async with stream_cm as upstream:
            connect.stop()
            try:
                async for chunk in upstream.aiter_bytes():
                    mark("first_byte")
                    for sse in decoder.feed(chunk):
                        if sse.is_done:
                            break
                        for event in translator.feed(sse.json()):
                            await emit(event)
                    if translator.finished:
                        break
            except (UpstreamError, SSEProtocolError) as exc:
                await emit(_mid_stream_failure(exc))
                return
    except UpstreamError as exc:
        await emit(TurnError(exc))
        return
    for event in translator.finish():
        await emit(event)


def _mid_stream_failure(exc: Exception) -> Failed:
    if isinstance(exc, UpstreamError):
        return Failed(
            code=exc.kind.value, message=exc.message, error_type=exc.error_type, response_id=None
        )
    return Failed(
        code=UpstreamErrorKind.STREAM_FAILED.value,
        message=f"OpenRouter sent a malformed stream: {exc}"[:300],
        error_type="protocol",
        response_id=None,
    )


_MID_STREAM_KINDS = frozenset(
    {
        UpstreamErrorKind.NETWORK,
        UpstreamErrorKind.STALLED,
        UpstreamErrorKind.TIMEOUT,
        UpstreamErrorKind.STREAM_INCOMPLETE,
    }
)


def failure_as_error(failure: Failed) -> UpstreamError:
    """The error a mid-stream :class:`Failed` stands for, for rendering the user's notice.

    Transport failures keep their kind; an ended-without-completion stream is incomplete;
    everything the upstream reported itself (``response.failed``, ``error`` events) is a
    stream failure whatever code it carried.
    """
    try:
        kind = UpstreamErrorKind(failure.code)
    except ValueError:
        kind = UpstreamErrorKind.STREAM_FAILED
    if failure.code == "stream_ended_without_completion":
        kind = UpstreamErrorKind.STREAM_INCOMPLETE
    elif kind not in _MID_STREAM_KINDS:
        kind = UpstreamErrorKind.STREAM_FAILED
    return UpstreamError(kind, failure.message, code=failure.code, error_type=failure.error_type)


def is_terminal(event: TurnOutput) -> bool:
    return isinstance(event, Completed | Failed | TurnError)
