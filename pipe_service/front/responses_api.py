"""``POST /v1/responses``: the OpenAI Responses API over the same turns as the chat API.

The body is rewritten into the chat shape (:mod:`pipe_service.transform.responses_body`) and run
through the chat gateway, so transforms, tools, admission, persistence and usage are the chat
API's; the events are rendered as Responses stream events or a ``response`` object
(:mod:`pipe_service.chat.responses_render`). Errors before any output are OpenAI error JSON with
the matching status; a failure after output has started ends the stream with
``response.failed`` carrying the error, after the partial output.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import AsyncExitStack
from dataclasses import replace
from typing import Any

from quart import Blueprint, Response, current_app, request

from pipe_service.admission.byte_budget import ByteBudget
from pipe_service.catalog.actor import CatalogUnavailableError
from pipe_service.catalog.registry import UnknownModelError
from pipe_service.chat.events import Failed, TextDelta, TurnEvent
from pipe_service.chat.failure import TurnFailure
from pipe_service.chat.gateway import ChatGateway
from pipe_service.chat.responses_render import ResponsesRender, StreamEvent, new_response_id
from pipe_service.chat.turn_request import TurnError, TurnOutput
from pipe_service.config import Settings
from pipe_service.front.auth import caller_identity, client_openrouter_key, tcp_access
from pipe_service.front.event_stream import event_stream_response
from pipe_service.front.http_errors import error_response
from pipe_service.front.openai_errors import ApiError, api_error_for, api_error_for_failure
from pipe_service.front.request_body import BodyLimits, BodyRefusedError, read_json_body
from pipe_service.sessions.actor import TurnHandle
from pipe_service.telemetry.trace import RequestTrace
from pipe_service.transform.errors import RequestTransformError
from pipe_service.transform.responses_body import ChatBody, chat_body_from_responses

logger = logging.getLogger("pipe_service.front.responses_api")

responses_api = Blueprint("responses_api", __name__)

MAX_RESPONSES_BODY_BYTES = 32 * 1024 * 1024
"""The same bound as a chat body: the whole conversation, images as data URLs."""
BODY_READ_TIMEOUT_S = 60.0
"""A client must finish sending its body within this long (408 otherwise)."""


def _gateway() -> ChatGateway | None:
    gateway: ChatGateway | None = current_app.config.get("CHAT_GATEWAY")
    return gateway


def _body_limits() -> BodyLimits:
    settings: Settings = current_app.config["SERVICE_CONTEXT"].settings
    return BodyLimits(
        max_bytes=MAX_RESPONSES_BODY_BYTES,
        read_timeout_s=BODY_READ_TIMEOUT_S,
        busy_retry_after_s=settings.admission.retry_after_s,
    )


def _refusal(body: Any) -> ApiError | None:
    if not isinstance(body, dict):
        return ApiError(400, "the request body must be a JSON object", "invalid_json")
    model_id = body.get("model")
    if not isinstance(model_id, str) or not model_id:
        return ApiError(400, "model: a model id is required", "invalid_request", param="model")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        return ApiError(400, "stream: must be true or false", "invalid_request", param="stream")
    return None


_Traced = tuple[ChatGateway, RequestTrace]
"""The gateway whose telemetry observes the request, and the request's trace."""


def _error_class(exc: BaseException) -> str:
    if isinstance(exc, UnknownModelError):
        return "unknown_model"
    if isinstance(exc, CatalogUnavailableError):
        return "catalog"
    return "invalid_request"


def _error_for(
    exc: BaseException, chat: ChatBody | None, *, failure: TurnFailure | None = None
) -> ApiError:
    """The OpenAI error for ``exc``, naming the Responses field (``input[2]``) not the chat one."""
    error = api_error_for(exc, failure=failure)
    if isinstance(exc, RequestTransformError) and chat is not None:
        field = chat.input_field(exc.field)
        error = replace(error, message=f"{field}: {exc.message}", param=field)
    return error


@responses_api.post("/v1/responses")
async def create_response() -> Response:
    gateway = _gateway()
    if gateway is None:
        return error_response(ApiError(503, "chat is not configured", "unavailable"))
    budget: ByteBudget = current_app.config["BYTE_BUDGET"]
    try:
        body, reservation = await read_json_body(request, limits=_body_limits(), budget=budget)
    except BodyRefusedError as refused:
        return error_response(refused.error)
    exits = AsyncExitStack()
    # The body's bytes stay reserved until the answer ends (streamed or not).
    exits.callback(reservation.release)
    stream = bool(body.get("stream", False)) if isinstance(body, dict) else False
    model_id = body.get("model") if isinstance(body, dict) else None
    trace = exits.enter_context(
        gateway.telemetry.track_request(
            front="responses",
            model=model_id[:200] if isinstance(model_id, str) else "",
            stream=stream,
        )
    )
    chat: ChatBody | None = None
    try:
        refusal = _refusal(body)
        if refusal is not None:
            trace.fail("invalid_request")
            await exits.aclose()
            return error_response(refusal)
        chat = chat_body_from_responses(body)
        model = gateway.resolve_model(body["model"])
    except (RequestTransformError, UnknownModelError, CatalogUnavailableError) as exc:
        # a bad body, an unknown model, no catalog yet: answers for the client, not crashes
        trace.fail(_error_class(exc))
        await exits.aclose()
        return error_response(_error_for(exc, chat))
    trace.model = model.slug
    try:
        handle = await exits.enter_async_context(
            gateway.open_turn(
                chat.body,
                model=model,
                stream=stream,
                api_key=client_openrouter_key(request, tcp_access()),
                owner=caller_identity(request),
            )
        )
        first = await handle.receive()
    except BaseException:
        await exits.aclose()
        raise
    gateway.telemetry.observe(trace, first)
    if isinstance(first, TurnError):
        await exits.aclose()
        logger.info("responses request refused", extra={"error": type(first.error).__name__})
        return error_response(_error_for(first.error, chat, failure=first.failure))
    render = ResponsesRender(new_response_id(), model=model.slug, created_at=int(time.time()))
    if not stream:
        return await _whole_response(exits, handle, first, render, chat, (gateway, trace))
    sse = ResponsesSSE(exits, handle, first, render, (gateway, trace))
    return event_stream_response(sse)


async def _whole_response(
    exits: AsyncExitStack,
    handle: TurnHandle[TurnOutput],
    first: TurnEvent,
    render: ResponsesRender,
    chat: ChatBody,
    traced: _Traced,
) -> Response:
    gateway, trace = traced
    events: list[TurnEvent] = [first]
    try:
        async for item in handle:
            gateway.telemetry.observe(trace, item)
            if isinstance(item, TurnError):
                return error_response(_error_for(item.error, chat, failure=item.failure))
            events.append(item)
    finally:
        await exits.aclose()
    failure = next((event for event in events if isinstance(event, Failed)), None)
    if failure is not None and not any(isinstance(event, TextDelta) for event in events):
        return error_response(api_error_for_failure(failure.failure))
    for event in events:
        render.feed(event)
    if not render.finished:
        render.fail("internal_error", "the answer ended unexpectedly")
    return Response(json.dumps(render.response()), content_type="application/json")


class ResponsesSSE:
    """The streamed body: ``event:``/``data:`` frames for the turn's events.

    Quart calls :meth:`aclose` when the body ends or the client goes away; that leaves the
    turn's context, which cancels the turn and its upstream stream.
    """

    def __init__(
        self,
        exits: AsyncExitStack,
        handle: TurnHandle[TurnOutput],
        first: TurnOutput,
        render: ResponsesRender,
        traced: _Traced,
    ) -> None:
        self._gateway, self._trace = traced
        self._exits = exits
        self._handle = handle
        self._render = render
        self._pending: list[bytes] = [_frame(event) for event in render.created()]
        self._first: TurnOutput | None = first

    def __aiter__(self) -> ResponsesSSE:
        return self

    async def __anext__(self) -> bytes:
        while not self._pending:
            if self._render.finished:
                await self.aclose()
                raise StopAsyncIteration
            if self._first is not None:
                item, self._first = self._first, None
            else:
                try:
                    item = await self._handle.receive()
                except Exception:  # EndOfChannel: the turn ended (or crashed) without a terminal
                    self._trace.fail("internal")
                    item = Failed(
                        code="internal_error",
                        message="the answer ended unexpectedly",
                        error_type=None,
                        response_id=None,
                    )
                else:
                    self._gateway.telemetry.observe(self._trace, item)
            self._pending.extend(_frame(event) for event in self._events(item))
        # Everything rendered so far goes out in one write: fewer sends under load.
        chunk = b"".join(self._pending)
        self._pending.clear()
        return chunk

    def _events(self, item: TurnOutput) -> list[StreamEvent]:
        if isinstance(item, TurnError):
            error = api_error_for(item.error, failure=item.failure)
            return self._render.fail(error.code, error.message)
        if isinstance(item, Failed):
            error = api_error_for_failure(item.failure)
            return self._render.fail(item.code, error.message)
        return self._render.feed(item)

    async def aclose(self) -> None:
        if not self._render.finished:
            self._trace.fail("cancelled", outcome="cancelled")  # the client went away
        await self._exits.aclose()


def _frame(event: StreamEvent) -> bytes:
    data = json.dumps(event, separators=(",", ":"))
    return f"event: {event['type']}\ndata: {data}\n\n".encode()
