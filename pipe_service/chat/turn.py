"""One chat turn: build the Responses payload, call OpenRouter, translate what comes back.

The turn writes :data:`~pipe_service.chat.events.TurnEvent` values (and at most one
:class:`TurnError`) into a send channel it owns. Renderers — the OpenAI-compatible API today,
the shim protocol next — read that channel; nothing here knows about HTTP or frames.

A turn whose :class:`ToolContext` has an executor (and is not passthrough) runs the function-call
loop of :mod:`pipe_service.chat.tool_loop`: several upstream runs, tools run in between.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from pipe_service.chat.events import Completed, Failed, Status
from pipe_service.chat.failure import TurnFailure, log_failure
from pipe_service.chat.tool_loop import offer_tools, run_tool_loop, wants_tool_loop
from pipe_service.chat.translate import ResponsesStreamTranslator, translate_response
from pipe_service.chat.turn_request import Emit, TurnError, TurnOutput, TurnRequest, TurnSink
from pipe_service.chat.upstream_relay import StallPolicy, relay_upstream_stream
from pipe_service.chat.upstream_route import run_routed_upstream
from pipe_service.media.intake import MediaIntake
from pipe_service.openrouter.client import OpenRouterClient
from pipe_service.openrouter.errors import UpstreamError
from pipe_service.telemetry.trace import time_phase
from pipe_service.tools.registry import ToolRegistry
from pipe_service.transform.payload import (
    add_file_parser,
    build_responses_payload,
    build_task_payload,
)

if TYPE_CHECKING:
    from pipe_service.tools.runner import ToolRunner


def build_payload(request: TurnRequest) -> dict[str, Any]:
    """The Responses payload for ``request``; raises ``RequestTransformError`` on bad input."""
    if request.task is not None:
        return build_task_payload(
            request.body,
            model=request.model,
            options=request.options,
            task=request.task,
            offered=request.offered,
        )
    payload = build_responses_payload(
        request.body,
        model=request.model,
        options=request.options,
        user=request.user,
        identity=request.identity,
        offered=request.offered,
        replayed=request.replayed,
    )
    payload["stream"] = request.stream
    return payload


async def run_turn(
    request: TurnRequest,
    client: OpenRouterClient,
    send: TurnSink,
    *,
    tool_runner: ToolRunner | None = None,
    stall: StallPolicy | None = None,
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

    async def emit(item: TurnOutput) -> None:
        log_terminal_failure(item, request)
        await send.send(item)

    try:
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
            await emit(TurnError(exc))
            return
        if runner is None:
            await run_upstream(request, client, payload, emit, stall=stall)
            return
        await run_tool_loop(
            request,
            payload,
            registry=registry,
            runner=runner,
            run_once=partial(run_upstream, request, client, stall=stall),
            send=emit,
        )
    finally:
        send.close()  # without a checkpoint, so a cancelled turn cannot mask its own error


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
    request: TurnRequest,
    client: OpenRouterClient,
    payload: dict[str, Any],
    emit: Emit,
    *,
    stall: StallPolicy | None = None,
) -> None:
    """One upstream call for ``payload``; its events (or one :class:`TurnError`) go to ``emit``.

    The endpoint (``/responses`` or ``/chat/completions``), the fallback between them and the
    reasoning-recovery retry are chosen in :mod:`pipe_service.chat.upstream_route`; both
    endpoints' streams go through the one relay (:mod:`pipe_service.chat.upstream_relay`).

    ``stall``: when a silent stream shows a waiting status and when it is abandoned; by
    default the status timing's defaults and the client's ``stall_timeout_s``.
    """
    if stall is None:
        stall = StallPolicy(stall_timeout_s=client.stall_timeout_s)
    await run_routed_upstream(
        request,
        client,
        payload,
        emit,
        run_responses=partial(_run_responses, stall=stall),
        stall=stall,
    )


async def _run_responses(
    request: TurnRequest,
    client: OpenRouterClient,
    payload: dict[str, Any],
    emit: Emit,
    *,
    stall: StallPolicy,
) -> None:
    if not request.stream or request.task is not None:
        await _run_whole(request, client, payload, emit)
        return
    await _run_streaming(request, client, payload, emit, stall)


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
    stall: StallPolicy,
) -> None:
    stream_cm = client.stream_responses(
        payload, api_key=request.api_key, extra_headers=dict(request.extra_headers)
    )
    await relay_upstream_stream(stream_cm, ResponsesStreamTranslator(), emit, stall)


def failure_as_error(failed: Failed) -> TurnFailure:
    """The one error value a :class:`Failed` carries (for rendering the user's notice)."""
    return failed.failure


def is_terminal(event: TurnOutput) -> bool:
    return isinstance(event, Completed | Failed | TurnError)


def log_terminal_failure(item: TurnOutput, request: TurnRequest) -> None:
    """Log a failure once, where the turn emits it (renderers never log what they show)."""
    if isinstance(item, TurnError):
        stage = "before output"
        failure = item.failure
    elif isinstance(item, Failed):
        stage = "mid-stream"
        failure = item.failure
    else:
        return
    log_failure(
        failure,
        request_id=request.request_id,
        identity=request.identity,
        model=request.model.slug,
        stage=stage,
    )
