"""The OpenAI-compatible API: ``GET /v1/models`` and ``POST /v1/chat/completions``.

Any OpenAI client — and Open WebUI's own OpenAI connection — can use the sidecar directly.
Streams are ``chat.completion.chunk`` SSE with ``reasoning_content`` deltas and a final usage
chunk carrying ``cost``; errors are OpenAI error JSON with the matching HTTP status. Tools the
client sends come back as ``tool_calls`` for the client to run, as the OpenAI API does.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from typing import Any, Final

import trio
from quart import Blueprint, Response, current_app, request

from pipe_service.admission.byte_budget import ByteBudget
from pipe_service.catalog.actor import CatalogUnavailableError
from pipe_service.catalog.capabilities import ModelCapabilities
from pipe_service.catalog.owui_metadata import owui_model_metadata
from pipe_service.catalog.registry import UnknownModelError
from pipe_service.chat.events import Completed, Failed, TextDelta, TurnEvent
from pipe_service.chat.failure import INTERNAL_ERROR
from pipe_service.chat.gateway import ChatGateway
from pipe_service.chat.openai_chunks import to_chat_chunk, to_chat_completion
from pipe_service.chat.turn_request import TurnError, TurnOutput
from pipe_service.config import Settings
from pipe_service.front.auth import caller_identity, client_openrouter_key, tcp_access
from pipe_service.front.event_stream import event_stream_response
from pipe_service.front.http_errors import error_response
from pipe_service.front.openai_errors import ApiError, api_error_for, api_error_for_failure
from pipe_service.front.request_body import BodyLimits, BodyRefusedError, read_json_body
from pipe_service.sessions.actor import TurnHandle
from pipe_service.telemetry.trace import RequestTrace

logger = logging.getLogger("pipe_service.front.openai_api")

openai_api = Blueprint("openai_api", __name__)

MAX_CHAT_BODY_BYTES: Final = 32 * 1024 * 1024
"""A chat body carries the whole conversation, images as data URLs; 32 MiB bounds it (as the
shim protocol's frame cap does)."""
BODY_READ_TIMEOUT_S: Final = 60.0
"""A client must finish sending its body within this long (408 otherwise)."""


def _gateway() -> ChatGateway | None:
    gateway: ChatGateway | None = current_app.config.get("CHAT_GATEWAY")
    return gateway


def _settings() -> Settings:
    settings: Settings = current_app.config["SERVICE_CONTEXT"].settings
    return settings


def _byte_budget() -> ByteBudget:
    budget: ByteBudget = current_app.config["BYTE_BUDGET"]
    return budget


def _body_limits() -> BodyLimits:
    settings = _settings()
    return BodyLimits(
        max_bytes=MAX_CHAT_BODY_BYTES,
        read_timeout_s=BODY_READ_TIMEOUT_S,
        busy_retry_after_s=settings.admission.retry_after_s,
    )


def _refusal(body: Any) -> ApiError | None:
    """The 400 for a body this API cannot serve, before any turn starts."""
    if not isinstance(body, dict):
        return ApiError(400, "the request body must be a JSON object", "invalid_json")
    model_id = body.get("model")
    if not isinstance(model_id, str) or not model_id:
        return ApiError(400, "model: a model id is required", "invalid_request", param="model")
    choices = body.get("n")
    if choices is not None and (isinstance(choices, bool) or choices != 1):
        return ApiError(
            400, "n: only one choice per request is supported (n = 1)", "invalid_request", param="n"
        )
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        return ApiError(400, "stream: must be true or false", "invalid_request", param="stream")
    return None


@openai_api.get("/v1/models")
async def list_models() -> Response:
    gateway = _gateway()
    if gateway is None:
        return error_response(ApiError(503, "chat is not configured", "unavailable"))
    try:
        registry = gateway.catalog.current()
    except CatalogUnavailableError as exc:  # no catalog yet
        return error_response(api_error_for(exc))
    icons = _settings().model_entries.icon_urls
    data = [_model_entry(model, icons) for model in registry.list()]
    return Response(json.dumps({"object": "list", "data": data}), content_type="application/json")


def _model_entry(model: ModelCapabilities, icons: Mapping[str, str]) -> dict[str, Any]:
    """One ``/v1/models`` row; variants name their base, routed models their providers."""
    entry: dict[str, Any] = {
        "id": model.slug,
        "object": "model",
        "created": model.created or 0,
        "owned_by": model.base_slug.split("/", 1)[0],
        "name": model.name,
        # Not OpenAI's: what the shim writes into Open WebUI's model entries.
        "open_webui": owui_model_metadata(model, icons),
    }
    if model.variant_of is not None:
        entry["variant_of"] = model.variant_of
    if model.providers:
        entry["providers"] = list(model.providers)
    return entry


@openai_api.post("/v1/chat/completions")
async def chat_completions() -> Response:
    gateway = _gateway()
    if gateway is None:
        return error_response(ApiError(503, "chat is not configured", "unavailable"))
    try:
        body, reservation = await read_json_body(
            request, limits=_body_limits(), budget=_byte_budget()
        )
    except BodyRefusedError as refused:
        return error_response(refused.error)
    exits = AsyncExitStack()
    # The body's bytes stay reserved until the answer ends (streamed or not).
    exits.callback(reservation.release)
    stream = bool(body.get("stream", False))
    model_id = body.get("model")
    user = body.get("user")
    trace = exits.enter_context(
        gateway.telemetry.track_request(
            front="openai",
            model=model_id[:200] if isinstance(model_id, str) else "",
            stream=stream,
            user_id=user[:256] if isinstance(user, str) and user else None,
        )
    )
    try:
        refusal = _refusal(body)
        if refusal is not None:
            trace.fail("invalid_request")
            await exits.aclose()
            return error_response(refusal)
        model = gateway.resolve_model(body["model"])
    except (UnknownModelError, CatalogUnavailableError) as exc:  # both are client answers
        trace.fail("unknown_model" if isinstance(exc, UnknownModelError) else "catalog")
        await exits.aclose()
        return error_response(api_error_for(exc))
    trace.model = model.slug
    try:
        handle = await exits.enter_async_context(
            gateway.open_turn(
                body,
                model=model,
                stream=stream,
                api_key=client_openrouter_key(request, tcp_access()),
                owner=caller_identity(request),
            )
        )
        first = await handle.receive()
    except trio.EndOfChannel:  # the turn ended without a word: its crash is already logged
        await exits.aclose()
        return error_response(ApiError(500, "the answer ended unexpectedly", "internal_error"))
    except BaseException:
        await exits.aclose()
        raise
    gateway.telemetry.observe(trace, first)
    if isinstance(first, TurnError):
        await exits.aclose()
        return error_response(api_error_for(first.error, failure=first.failure))
    completion_id = f"chatcmpl-{secrets.token_hex(12)}"
    created = int(time.time())
    if not stream:
        events: list[TurnEvent] = [first]
        try:
            async for item in handle:
                gateway.telemetry.observe(trace, item)
                if isinstance(item, TurnError):
                    return error_response(api_error_for(item.error, failure=item.failure))
                events.append(item)
        finally:
            await exits.aclose()
        failure = next((event for event in events if isinstance(event, Failed)), None)
        if failure is not None and not any(isinstance(event, TextDelta) for event in events):
            return error_response(api_error_for_failure(failure.failure))
        completion = to_chat_completion(
            events, completion_id=completion_id, model=model.slug, created=created
        )
        if failure is not None:
            _append_interrupted_notice(completion, gateway.interrupted_notice(failure.failure))
        return Response(json.dumps(completion), content_type="application/json")
    sse = ChatCompletionSSE(
        exits, handle, first, completion_id, model.slug, created, gateway, trace
    )
    return event_stream_response(sse)


class ChatCompletionSSE:
    """The streamed body: chunks from the turn's events, then ``data: [DONE]``.

    Quart calls :meth:`aclose` when the body ends or the client goes away; that leaves the
    turn's context, which cancels the turn and its upstream stream.
    """

    def __init__(
        self,
        exits: AsyncExitStack,
        handle: TurnHandle[TurnOutput],
        first: TurnOutput,
        completion_id: str,
        model: str,
        created: int,
        gateway: ChatGateway,
        trace: RequestTrace,
    ) -> None:
        self._gateway = gateway
        self._trace = trace
        self._exits = exits
        self._handle = handle
        self._first: TurnOutput | None = first
        self._completion_id = completion_id
        self._model = model
        self._created = created
        self._done = False
        self._pending: list[bytes] = []

    def __aiter__(self) -> ChatCompletionSSE:
        return self

    async def __anext__(self) -> bytes:
        while not self._pending:
            if self._done:
                await self.aclose()
                raise StopAsyncIteration
            if self._first is not None:
                item, self._first = self._first, None
            else:
                try:
                    item = await self._handle.receive()
                except trio.EndOfChannel:  # the turn ended (or crashed) without a terminal
                    self._trace.fail("internal")
                    item = Failed(
                        code=INTERNAL_ERROR,
                        message="the answer ended unexpectedly",
                        error_type=None,
                        response_id=None,
                    )
                    logger.error(
                        "turn ended without a terminal event",
                        extra={"error_id": item.failure.error_id},
                    )
                else:
                    self._gateway.telemetry.observe(self._trace, item)
            self._pending.extend(self._render(item))
        return self._pending.pop(0)

    def _render(self, item: TurnOutput) -> list[bytes]:
        if isinstance(item, TurnError):  # a later tool round failed before its output
            item = Failed(
                code="error",
                message=str(item.error),
                error_type=None,
                response_id=None,
                failure=item.failure,
            )
        if isinstance(item, Failed):
            self._done = True
            notice = self._gateway.interrupted_notice(item.failure)
            chunks = [
                self._chunk({"content": notice}, None),
                self._chunk({}, "error"),
            ]
            return [*chunks, b"data: [DONE]\n\n"]
        chunk = to_chat_chunk(
            item, completion_id=self._completion_id, model=self._model, created=self._created
        )
        out = [_sse(chunk)] if chunk is not None else []
        if isinstance(item, Completed):
            self._done = True
            out.append(b"data: [DONE]\n\n")
        return out

    def _chunk(self, delta: Mapping[str, Any], finish_reason: str | None) -> bytes:
        return _sse(
            {
                "id": self._completion_id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": self._model,
                "choices": [{"index": 0, "delta": dict(delta), "finish_reason": finish_reason}],
            }
        )

    async def aclose(self) -> None:
        if not self._done:
            self._trace.fail("cancelled", outcome="cancelled")  # the client went away
        await self._exits.aclose()


def _sse(payload: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def _append_interrupted_notice(completion: dict[str, Any], notice: str) -> None:
    message = completion["choices"][0]["message"]
    message["content"] = (message.get("content") or "") + notice
    completion["choices"][0]["finish_reason"] = "error"
