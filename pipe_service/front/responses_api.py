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
import time
from dataclasses import replace
from functools import partial
from typing import Any, Final

from quart import Blueprint, Response

from pipe_service.chat.events import Failed
from pipe_service.chat.failure import TurnFailure
from pipe_service.chat.responses_render import ResponsesRender, StreamEvent, new_response_id
from pipe_service.chat.turn_request import TurnError, TurnOutput
from pipe_service.front.event_stream import TurnEventStream, event_stream_response
from pipe_service.front.http_errors import error_response
from pipe_service.front.openai_errors import ApiError, api_error_for, api_error_for_failure
from pipe_service.front.turn_door import Door, DoorRefusedError, TurnBody, admit_turn
from pipe_service.transform.errors import RequestTransformError
from pipe_service.transform.responses_body import ChatBody, chat_body_from_responses

responses_api = Blueprint("responses_api", __name__)


def _turn_body(body: dict[str, Any]) -> TurnBody:
    """The chat body the gateway runs; its refusals name the Responses field (``input[2]``)."""
    chat = chat_body_from_responses(body)
    return TurnBody(chat.body, error_for=partial(_error_for, chat=chat))


def _error_for(exc: BaseException, failure: TurnFailure | None, *, chat: ChatBody) -> ApiError:
    error = api_error_for(exc, failure=failure)
    if isinstance(exc, RequestTransformError):
        field = chat.input_field(exc.field)
        error = replace(error, message=f"{field}: {exc.message}", param=field)
    return error


RESPONSES_DOOR: Final = Door(front="responses", refusal=lambda body: None, prepare=_turn_body)


@responses_api.post("/v1/responses")
async def create_response() -> Response:
    try:
        turn = await admit_turn(RESPONSES_DOOR)
        render = ResponsesRender(
            new_response_id(), model=turn.model.slug, created_at=int(time.time())
        )
        if turn.stream:
            return event_stream_response(TurnEventStream(turn, ResponsesEventRender(render)))
        events = await turn.collect()
    except DoorRefusedError as refused:
        return error_response(refused.error)
    for event in events:
        render.feed(event)
    if not render.finished:
        render.fail("internal_error", "the answer ended unexpectedly")
    return Response(json.dumps(render.response()), content_type="application/json")


class ResponsesEventRender:
    """Turn items as ``event:``/``data:`` Responses stream events, starting with
    ``response.created``; a failure after output ends with ``response.failed``."""

    def __init__(self, render: ResponsesRender) -> None:
        self._render = render

    @property
    def finished(self) -> bool:
        return self._render.finished

    def opening(self) -> list[bytes]:
        return [_frame(event) for event in self._render.created()]

    def render(self, item: TurnOutput) -> list[bytes]:
        return [_frame(event) for event in self._events(item)]

    def _events(self, item: TurnOutput) -> list[StreamEvent]:
        if isinstance(item, TurnError):
            error = api_error_for(item.error, failure=item.failure)
            return self._render.fail(error.code, error.message)
        if isinstance(item, Failed):
            error = api_error_for_failure(item.failure)
            return self._render.fail(item.code, error.message)
        return self._render.feed(item)


def _frame(event: StreamEvent) -> bytes:
    data = json.dumps(event, separators=(",", ":"))
    return f"event: {event['type']}\ndata: {data}\n\n".encode()
