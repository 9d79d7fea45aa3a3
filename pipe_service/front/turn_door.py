"""The door both OpenAI-shaped chat fronts share: from an HTTP request to a running turn.

``POST /v1/chat/completions`` and ``POST /v1/responses`` admit a request the same way, in this
order: a configured gateway (503), the body against its size cap, read deadline and the byte
budget (413 / 408 / 503), strict JSON (400), the fields every turn needs (400), the endpoint's
own rewrite and checks (400), the model (404 / 503), then the turn itself until its first item
(an upstream or admission refusal before any output keeps its status). Any refusal is a
:class:`DoorRefusedError` carrying the OpenAI error; what the endpoint gets past the door is an
:class:`AdmittedTurn` it renders whole (:meth:`AdmittedTurn.collect`) or streams
(:class:`pipe_service.front.event_stream.TurnEventStream`).

Synopsis::

    try:
        turn = await admit_turn(CHAT_DOOR)
        if turn.stream:
            return event_stream_response(TurnEventStream(turn, ChatChunkRender(...)))
        events = await turn.collect()
    except DoorRefusedError as refused:
        return error_response(refused.error)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Final

import trio
from quart import current_app, request

from pipe_service.admission.byte_budget import ByteBudget
from pipe_service.catalog.actor import CatalogUnavailableError
from pipe_service.catalog.capabilities import ModelCapabilities
from pipe_service.catalog.registry import UnknownModelError
from pipe_service.chat.events import Failed, TextDelta, TurnEvent
from pipe_service.chat.failure import TurnFailure
from pipe_service.chat.gateway import ChatGateway
from pipe_service.chat.turn_request import TurnError, TurnOutput
from pipe_service.config import Settings
from pipe_service.front.auth import caller_identity, client_openrouter_key, tcp_access
from pipe_service.front.openai_errors import ApiError, api_error_for, api_error_for_failure
from pipe_service.front.request_body import BodyLimits, BodyRefusedError, read_json_body
from pipe_service.sessions.actor import TurnHandle
from pipe_service.telemetry.trace import RequestTrace
from pipe_service.transform.errors import RequestTransformError

logger = logging.getLogger("pipe_service.front.turn_door")

MAX_BODY_BYTES: Final = 32 * 1024 * 1024
"""A chat body carries the whole conversation, images as data URLs; 32 MiB bounds it (as the
shim protocol's frame cap does)."""
BODY_READ_TIMEOUT_S: Final = 60.0
"""A client must finish sending its body within this long (408 otherwise)."""

ErrorFor = Callable[[BaseException, TurnFailure | None], ApiError]
"""The OpenAI error for a turn's refusal (``exc``) and the failure value it was minted as."""


def plain_error_for(exc: BaseException, failure: TurnFailure | None) -> ApiError:
    """:func:`api_error_for` as an :data:`ErrorFor`: the chat body is the client's own."""
    return api_error_for(exc, failure=failure)


@dataclass(frozen=True, slots=True)
class TurnBody:
    """What an endpoint makes of its request: the chat-shaped body the gateway runs, and how
    the turn's refusals are told in the endpoint's own terms (its field names)."""

    body: dict[str, Any]
    error_for: ErrorFor = plain_error_for


@dataclass(frozen=True, slots=True)
class Door:
    """What differs between the fronts at the door.

    ``front``: the telemetry label. ``refusal``: the endpoint's own field checks, after the
    common ones. ``prepare``: the body as the gateway runs it (may raise
    :class:`RequestTransformError`). ``user_field``: the body's ``user`` names the caller in
    the trace (and so in per-user limits).
    """

    front: str
    refusal: Callable[[dict[str, Any]], ApiError | None]
    prepare: Callable[[dict[str, Any]], TurnBody]
    user_field: bool = False


class DoorRefusedError(Exception):
    """The request is answered with ``error`` (an OpenAI error JSON and its status)."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(slots=True)
class AdmittedTurn:
    """A turn past the door, with its first item already received.

    ``exits`` holds everything the request keeps until its answer ends: the body's byte
    reservation, the trace, and the turn (leaving it cancels the turn and its upstream).
    """

    gateway: ChatGateway
    trace: RequestTrace
    exits: AsyncExitStack
    handle: TurnHandle[TurnOutput]
    first: TurnOutput
    model: ModelCapabilities
    stream: bool
    error_for: ErrorFor = field(default=plain_error_for)

    async def collect(self) -> list[TurnEvent]:
        """Every event of the turn, for a whole (non-streamed) answer; the turn is left when
        this returns. Raises :class:`DoorRefusedError` when the turn failed before any text."""
        events: list[TurnEvent] = []
        item = self.first  # observed at the door
        try:
            while True:
                if isinstance(item, TurnError):  # a later tool round was refused
                    raise DoorRefusedError(self.error_for(item.error, item.failure))
                events.append(item)
                try:
                    item = await self.handle.receive()
                except trio.EndOfChannel:
                    break
                self.gateway.telemetry.observe(self.trace, item)
        finally:
            await self.exits.aclose()
        failure = next((event for event in events if isinstance(event, Failed)), None)
        if failure is not None and not any(isinstance(event, TextDelta) for event in events):
            raise DoorRefusedError(api_error_for_failure(failure.failure))
        return events


async def admit_turn(door: Door) -> AdmittedTurn:
    """Take the current request through ``door`` to its turn's first item.

    Raises :class:`DoorRefusedError` for every answer that is not the turn's output; the body's
    bytes, trace and turn are then already released.
    """
    gateway = configured_gateway()
    if gateway is None:
        raise DoorRefusedError(ApiError(503, "chat is not configured", "unavailable"))
    budget: ByteBudget = current_app.config["BYTE_BUDGET"]
    try:
        body, reservation = await read_json_body(request, limits=_body_limits(), budget=budget)
    except BodyRefusedError as refused:
        raise DoorRefusedError(refused.error) from None
    exits = AsyncExitStack()
    # The body's bytes stay reserved until the answer ends (streamed or not).
    exits.callback(reservation.release)
    try:
        return await _admit(door, gateway, body, exits)
    except BaseException:
        await exits.aclose()
        raise


async def _admit(
    door: Door, gateway: ChatGateway, body: Any, exits: AsyncExitStack
) -> AdmittedTurn:
    fields: dict[str, Any] = body if isinstance(body, dict) else {}
    stream = bool(fields.get("stream", False))
    model_id = fields.get("model")
    user = fields.get("user") if door.user_field else None
    trace = exits.enter_context(
        gateway.telemetry.track_request(
            front=door.front,
            model=model_id[:200] if isinstance(model_id, str) else "",
            stream=stream,
            user_id=user[:256] if isinstance(user, str) and user else None,
        )
    )
    refusal = common_refusal(body) or door.refusal(fields)
    if refusal is not None:
        trace.fail("invalid_request")
        raise DoorRefusedError(refusal)
    try:
        turn_body = door.prepare(fields)
        model = gateway.resolve_model(fields["model"])
    except (RequestTransformError, UnknownModelError, CatalogUnavailableError) as exc:
        # a bad body, an unknown model, no catalog yet: answers for the client, not crashes
        trace.fail(_error_class(exc))
        raise DoorRefusedError(api_error_for(exc)) from None
    trace.model = model.slug
    handle = await exits.enter_async_context(
        gateway.open_turn(
            turn_body.body,
            model=model,
            stream=stream,
            api_key=client_openrouter_key(request, tcp_access()),
            owner=caller_identity(request),
        )
    )
    try:
        first = await handle.receive()
    except trio.EndOfChannel:  # the turn ended without a word: its crash is already logged
        raise DoorRefusedError(
            ApiError(500, "the answer ended unexpectedly", "internal_error")
        ) from None
    gateway.telemetry.observe(trace, first)
    if isinstance(first, TurnError):
        logger.info("chat request refused", extra={"error": type(first.error).__name__})
        raise DoorRefusedError(turn_body.error_for(first.error, first.failure))
    return AdmittedTurn(
        gateway, trace, exits, handle, first, model, stream, error_for=turn_body.error_for
    )


def configured_gateway() -> ChatGateway | None:
    """The app's chat gateway; None when chat is not configured."""
    gateway: ChatGateway | None = current_app.config.get("CHAT_GATEWAY")
    return gateway


def _body_limits() -> BodyLimits:
    settings: Settings = current_app.config["SERVICE_CONTEXT"].settings
    return BodyLimits(
        max_bytes=MAX_BODY_BYTES,
        read_timeout_s=BODY_READ_TIMEOUT_S,
        busy_retry_after_s=settings.admission.retry_after_s,
    )


def _error_class(exc: BaseException) -> str:
    if isinstance(exc, UnknownModelError):
        return "unknown_model"
    if isinstance(exc, CatalogUnavailableError):
        return "catalog"
    return "invalid_request"


def common_refusal(body: Any) -> ApiError | None:
    """The 400 for a body no chat front can serve, before any turn starts."""
    if not isinstance(body, dict):
        return ApiError(400, "the request body must be a JSON object", "invalid_json")
    model_id = body.get("model")
    if not isinstance(model_id, str) or not model_id:
        return ApiError(400, "model: a model id is required", "invalid_request", param="model")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        return ApiError(400, "stream: must be true or false", "invalid_request", param="stream")
    return None
