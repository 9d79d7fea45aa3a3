"""The simulator's HTTP routes (quart-trio): OpenRouter's /api/v1 surface plus /_sim controls.

Routes: ``GET /api/v1/models`` (public), ``POST /api/v1/responses``, ``GET /api/v1/generation``,
``GET /api/v1/key``, ``GET``/``DELETE /_sim/requests``, ``GET``/``PUT /_sim/models/hidden``.
All JSON is written compactly in wire key order (not through Quart's JSON provider, which sorts
keys).
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope
from quart import Response, request
from quart_trio import QuartTrio

from pipe_service.asgi_shield import ASGIApp, ShieldFinalSend
from pipe_service.simulator.auth import bearer_key, check_auth, key_label
from pipe_service.simulator.body import (
    SimulatedDisconnectError,
    play_stream,
    play_truncated,
    sleep_unless_stopping,
)
from pipe_service.simulator.config import SimulatorConfig
from pipe_service.simulator.errors import (
    ErrorReply,
    generation_not_found,
    invalid_prompt,
    missing_generation_id,
    provider_error,
    zod_issue,
)
from pipe_service.simulator.generations import Outcome, generation_record, key_info
from pipe_service.simulator.pacing import PacingOverrideError
from pipe_service.simulator.request_log import RequestRecord, redact_headers
from pipe_service.simulator.request_view import TurnRequest, build_turn_request
from pipe_service.simulator.resolution import resolve_model
from pipe_service.simulator.script import Emit, total_delay
from pipe_service.simulator.sse import compact_json
from pipe_service.simulator.state import SimulatorState
from pipe_service.simulator.turn import Turn, build_turn
from pipe_service.simulator.validation import parse_and_validate

MAX_BODY_BYTES = 100 * 1024 * 1024
STATE_KEY = "SIMULATOR_STATE"


class DropOnSimulatedDisconnect:
    """Turn :class:`SimulatedDisconnectError` into "the app returned without finishing the body".

    hypercorn then closes the connection mid-response: the client sees an incomplete chunked body
    (or, before any response start, hypercorn's own 500).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        try:
            await self.app(scope, receive, send)
        except* SimulatedDisconnectError:
            pass


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        compact_json(body), status=status, headers=headers, content_type="application/json"
    )


def error_response(reply: ErrorReply) -> Response:
    return json_response(reply.body, reply.status, reply.headers)


def state_of(app: QuartTrio) -> SimulatorState:
    state: SimulatorState = app.config[STATE_KEY]
    return state


def _log_request(state: SimulatorState, raw: bytes, received_at: float) -> None:
    log = state.requests
    if not log.enabled:
        return
    body: Any = None
    if raw and log.keeps_body(len(raw)):
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
    model = body.get("model") if isinstance(body, dict) else None
    headers = redact_headers(request.headers.items())
    record = RequestRecord(
        model if isinstance(model, str) else None, body, headers, received_at, len(raw)
    )
    log.append(record)


def _prepare_turn(state: SimulatorState, raw: bytes) -> tuple[TurnRequest, Turn] | ErrorReply:
    """Auth, validation, pacing overrides and model choice, then the whole scripted answer."""
    denied = check_auth(request.headers.get("Authorization"), state.config.api_keys)
    if denied is not None:
        return denied
    body = parse_and_validate(raw)
    if isinstance(body, ErrorReply):
        return body
    try:
        pacing = state.pacing.overridden(dict(request.headers.items()), body)
    except PacingOverrideError as error:
        return invalid_prompt([zod_issue("custom", ["metadata"], str(error))])
    primary = body.get("model") or body["models"][0]
    turn_request = build_turn_request(body, primary)
    resolved = resolve_model(
        turn_request,
        state.catalog,
        state.sim_catalog,
        provider_name=state.config.provider_name,
        retry_after_s=state.config.retry_after_s,
    )
    if isinstance(resolved, ErrorReply):
        return resolved
    turn_request = replace(turn_request, model=resolved.card.id)
    turn = build_turn(turn_request, resolved.card, pacing, provider_name=state.config.provider_name)
    return turn_request, turn


def _record(state: SimulatorState, turn: Turn, turn_request: TurnRequest, outcome: Outcome) -> None:
    record = generation_record(
        turn, turn_request, outcome, provider_name=state.config.provider_name
    )
    state.generations.add(record)


def _milliseconds_since(started: float) -> int:
    return int((time.time() - started) * 1000)


def _stream_response(
    state: SimulatorState, turn_request: TurnRequest, turn: Turn, started: float
) -> Response:
    first_token_ms = int(first_token_delay(turn) * 1000)

    def on_end(finished: bool) -> None:
        outcome = Outcome(True, not finished, first_token_ms, _milliseconds_since(started))
        _record(state, turn, turn_request, outcome)

    response = Response(play_stream(turn.steps, state.stopping, on_end), status=200)
    response.headers["Content-Type"] = "text/event-stream"
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Generation-Id"] = turn.generation_id
    response.timeout = None  # Quart's RESPONSE_TIMEOUT would cut long streams (trio-stack §7.2)
    return response


def first_token_delay(turn: Turn) -> float:
    """Seconds of pauses before ``response.created`` (the reported first-token latency)."""
    first_emit = next(i for i, step in enumerate(turn.steps) if isinstance(step, Emit))
    return total_delay(turn.steps[:first_emit])


async def _plain_response(
    state: SimulatorState, turn_request: TurnRequest, turn: Turn, started: float
) -> Response:
    if await sleep_unless_stopping(total_delay(turn.steps), state.stopping):
        raise SimulatedDisconnectError("server stopping")
    headers = {"X-Generation-Id": turn.generation_id}
    cancelled = turn.ending.kind == "dropped"
    outcome = Outcome(False, cancelled, _milliseconds_since(started), _milliseconds_since(started))
    _record(state, turn, turn_request, outcome)
    if turn.ending.kind == "dropped":
        created = next(step.event for step in turn.steps if isinstance(step, Emit))
        partial = compact_json(created["response"]).encode()
        response = Response(play_truncated(partial), status=200, headers=headers)
        response.headers["Content-Type"] = "application/json"
        return response
    if turn.ending.kind == "failed" or turn.final_response is None:
        raw = compact_json({"error": {"message": turn.ending.message, "code": 500}})
        return error_response(provider_error(state.config.provider_name, raw))
    return json_response(turn.final_response, headers=headers)


def create_app(config: SimulatorConfig) -> QuartTrio:
    """A fresh simulator app (own catalog, logs and stop event) for ``config``."""
    app = QuartTrio(__name__)
    app.config[STATE_KEY] = SimulatorState.from_config(config)
    app.config["RESPONSE_TIMEOUT"] = None
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES

    @app.get("/api/v1/models")
    async def models() -> Response:
        state = state_of(app)
        rows = state.catalog.filtered(request.args.to_dict())
        listed = [row for row in rows if row["id"] not in state.hidden_models]
        return json_response({"data": listed})

    @app.post("/api/v1/responses")
    async def responses() -> Response:
        state = state_of(app)
        started = time.time()
        data = await request.get_data(as_text=False, parse_form_data=False)
        raw = data if isinstance(data, bytes) else data.encode()
        _log_request(state, raw, started)
        prepared = _prepare_turn(state, raw)
        if isinstance(prepared, ErrorReply):
            return error_response(prepared)
        turn_request, turn = prepared
        if turn_request.stream:
            return _stream_response(state, turn_request, turn, started)
        return await _plain_response(state, turn_request, turn, started)

    @app.get("/api/v1/generation")
    async def generation() -> Response:
        state = state_of(app)
        denied = check_auth(request.headers.get("Authorization"), state.config.api_keys)
        if denied is not None:
            return error_response(denied)
        generation_id = request.args.get("id")
        if not generation_id:
            return error_response(missing_generation_id())
        record = state.generations.get(generation_id)
        if record is None:
            return error_response(generation_not_found(generation_id))
        return json_response({"data": record})

    @app.get("/api/v1/key")
    async def key() -> Response:
        state = state_of(app)
        denied = check_auth(request.headers.get("Authorization"), state.config.api_keys)
        if denied is not None:
            return error_response(denied)
        label = key_label(bearer_key(request.headers.get("Authorization")) or "")
        return json_response(key_info(label, state.generations.total_usage))

    @app.get("/_sim/requests")
    async def list_requests() -> Response:
        log = state_of(app).requests
        if not log.enabled:
            return json_response(
                {"error": {"code": 404, "message": "the request log is off (request_log_size)"}},
                404,
            )
        records = log.snapshot()
        return json_response({"data": [record.to_json() for record in records]})

    @app.delete("/_sim/requests")
    async def clear_requests() -> Response:
        state_of(app).requests.clear()
        return json_response({"data": []})

    @app.get("/_sim/models/hidden")
    async def list_hidden_models() -> Response:
        return json_response({"data": sorted(state_of(app).hidden_models)})

    @app.put("/_sim/models/hidden")
    async def hide_models() -> Response:
        """Replace the set of slugs left out of ``/models``: ``{"ids": ["sim/text", ...]}``."""
        document = await request.get_json(force=True, silent=True)
        ids = document.get("ids") if isinstance(document, dict) else None
        if not isinstance(ids, list) or not all(isinstance(item, str) for item in ids):
            reply = {"error": {"code": 400, "message": "expected {\"ids\": [model slugs]}"}}
            return json_response(reply, 400)
        state_of(app).hidden_models = frozenset(ids)
        return json_response({"data": sorted(ids)})

    @app.errorhandler(404)
    async def not_found(_: Exception) -> Response:
        return json_response({"error": {"code": 404, "message": "Not Found"}}, 404)

    app.asgi_app = ShieldFinalSend(DropOnSimulatedDisconnect(app.asgi_app))  # type: ignore[method-assign]
    return app
