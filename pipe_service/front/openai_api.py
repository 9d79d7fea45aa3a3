"""The OpenAI-compatible API: ``GET /v1/models`` and ``POST /v1/chat/completions``.

Any OpenAI client — and Open WebUI's own OpenAI connection — can use the sidecar directly.
Streams are ``chat.completion.chunk`` SSE with ``reasoning_content`` deltas and a final usage
chunk carrying ``cost``; errors are OpenAI error JSON with the matching HTTP status. Tools the
client sends come back as ``tool_calls`` for the client to run, as the OpenAI API does.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from typing import Any, Final

from quart import Blueprint, Response, current_app

from pipe_service.catalog.actor import CatalogUnavailableError
from pipe_service.catalog.capabilities import ModelCapabilities
from pipe_service.catalog.owui_metadata import owui_model_metadata
from pipe_service.chat.events import Completed, Failed
from pipe_service.chat.gateway import ChatGateway
from pipe_service.chat.openai_chunks import to_chat_chunk, to_chat_completion
from pipe_service.chat.turn_request import TurnError, TurnOutput
from pipe_service.config import Settings
from pipe_service.front.event_stream import TurnEventStream, event_stream_response
from pipe_service.front.http_errors import error_response
from pipe_service.front.openai_errors import ApiError, api_error_for
from pipe_service.front.turn_door import (
    Door,
    DoorRefusedError,
    TurnBody,
    admit_turn,
    configured_gateway,
)

openai_api = Blueprint("openai_api", __name__)


def _settings() -> Settings:
    settings: Settings = current_app.config["SERVICE_CONTEXT"].settings
    return settings


def _refusal(body: dict[str, Any]) -> ApiError | None:
    """This API's own 400 (the door checks the fields every front needs)."""
    choices = body.get("n")
    if choices is not None and (isinstance(choices, bool) or choices != 1):
        return ApiError(
            400, "n: only one choice per request is supported (n = 1)", "invalid_request", param="n"
        )
    return None


CHAT_DOOR: Final = Door(
    front="openai", refusal=_refusal, prepare=lambda body: TurnBody(body), user_field=True
)


@openai_api.get("/v1/models")
async def list_models() -> Response:
    gateway = configured_gateway()
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
    try:
        turn = await admit_turn(CHAT_DOOR)
        completion_id = f"chatcmpl-{secrets.token_hex(12)}"
        created = int(time.time())
        if turn.stream:
            render = ChatChunkRender(turn.gateway, completion_id, turn.model.slug, created)
            return event_stream_response(TurnEventStream(turn, render))
        events = await turn.collect()
    except DoorRefusedError as refused:
        return error_response(refused.error)
    completion = to_chat_completion(
        events, completion_id=completion_id, model=turn.model.slug, created=created
    )
    failure = next((event for event in events if isinstance(event, Failed)), None)
    if failure is not None:
        _append_interrupted_notice(completion, turn.gateway.interrupted_notice(failure.failure))
    return Response(json.dumps(completion), content_type="application/json")


class ChatChunkRender:
    """Turn items as ``chat.completion.chunk`` events, then ``data: [DONE]``; a failure after
    output is a notice in the content and ``finish_reason: "error"``."""

    def __init__(self, wording: ChatGateway, completion_id: str, model: str, created: int) -> None:
        self._wording = wording
        self._completion_id = completion_id
        self._model = model
        self._created = created
        self.finished = False

    def opening(self) -> list[bytes]:
        return []

    def render(self, item: TurnOutput) -> list[bytes]:
        if isinstance(item, TurnError):  # a later tool round failed before its output
            item = Failed(
                code="error",
                message=str(item.error),
                error_type=None,
                response_id=None,
                failure=item.failure,
            )
        if isinstance(item, Failed):
            self.finished = True
            notice = self._wording.interrupted_notice(item.failure)
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
            self.finished = True
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


def _sse(payload: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def _append_interrupted_notice(completion: dict[str, Any], notice: str) -> None:
    message = completion["choices"][0]["message"]
    message["content"] = (message.get("content") or "") + notice
    completion["choices"][0]["finish_reason"] = "error"
