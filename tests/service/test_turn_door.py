"""The door both chat fronts share (``front/turn_door.py``), one test per way in which a request
is refused, then each endpoint's own refusals.

The app is the real front (``create_front_app``) driven through Quart's in-memory test client;
the gateway is the real one over a scripted upstream (``tests.pipe_protocol.memory_session``).
No sockets, and every deadline runs on virtual time. Each refusal is also checked to lose
nothing: the body's bytes go back to the budget and no turn is left running.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from quart import typing as quart_typing
from quart.wrappers import Response

from pipe_service.admission.byte_budget import ByteBudget
from pipe_service.catalog.actor import Catalog
from pipe_service.catalog.filters import CatalogFilterOptions
from pipe_service.chat.gateway import ChatGateway
from pipe_service.front import turn_door
from pipe_service.front.app import create_front_app
from pipe_service.openrouter.errors import UpstreamError, UpstreamErrorKind
from pipe_service.sessions import actor as sessions_actor
from pipe_service.sessions.actor import Sessions
from tests.pipe_protocol.memory_session import make_gateway
from tests.service.conftest import bare_context, make_settings
from tests.tools.fakes import ScriptedUpstream, text_script

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
BOTH = pytest.mark.parametrize("path", [CHAT, RESPONSES])
MESSAGES: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"}]}
INPUT: dict[str, Any] = {"input": "hi"}


def _body(path: str, **fields: Any) -> dict[str, Any]:
    return {**(MESSAGES if path == CHAT else INPUT), **fields}


@dataclass
class Front:
    client: quart_typing.TestClientProtocol
    headers: dict[str, str]
    budget: ByteBudget
    gateway: ChatGateway | None

    async def post(self, path: str, body: Any) -> Response:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {**self.headers, "Content-Type": "application/json"}
        return await self.client.post(path, data=data, headers=headers)

    async def refused(self, path: str, body: Any, status: int) -> dict[str, Any]:
        """Post ``body``; the OpenAI error it is refused with, once nothing is held for it."""
        error = await _error(await self.post(path, body), status)
        self.assert_nothing_held()
        return error

    def assert_nothing_held(self) -> None:
        assert self.budget.statistics().in_flight == 0
        if self.gateway is not None:
            assert self.gateway.sessions.statistics().active == 0
            assert self.gateway.admission.statistics().running == 0


@asynccontextmanager
async def open_front(
    tmp_path: Path,
    upstream: object | None = None,
    *,
    budget_bytes: int = 64 * 1024 * 1024,
    gateway: bool = True,
    catalog: bool = True,
) -> AsyncIterator[Front]:
    settings = make_settings(tmp_path)
    context = bare_context(settings)
    budget = ByteBudget(budget_bytes)
    async with trio.open_nursery() as nursery:
        sessions: Sessions = await nursery.start(sessions_actor.run, Sessions())
        chat = make_gateway(upstream or ScriptedUpstream(text_script("Hello")), sessions)
        if not catalog:
            chat.catalog = Catalog(CatalogFilterOptions())  # never installed: no catalog yet
        app = create_front_app(context, gateway=chat if gateway else None, byte_budget=budget)
        assert settings.api_token is not None
        headers = {"Authorization": f"Bearer {settings.api_token.get_secret_value()}"}
        yield Front(app.test_client(), headers, budget, chat if gateway else None)
        nursery.cancel_scope.cancel()


async def _error(response: Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, await response.get_data()
    assert response.content_type == "application/json"
    error: dict[str, Any] = (await response.get_json())["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


# -- the shared door: one test per refusal -------------------------------------------------------


@BOTH
async def test_no_gateway_is_a_503_unavailable(tmp_path: Path, path: str) -> None:
    async with open_front(tmp_path, gateway=False) as front:
        error = await front.refused(path, _body(path, model="acme/chat"), 503)
    assert error["code"] == "unavailable"


@BOTH
async def test_a_declared_body_over_the_cap_is_a_413_before_a_byte_is_read(
    tmp_path: Path, path: str
) -> None:
    async with open_front(tmp_path) as front:
        headers = {**front.headers, "Content-Length": str(turn_door.MAX_BODY_BYTES + 1)}
        async with front.client.request(path, method="POST", headers=headers) as connection:
            response = await connection.as_response()
        error = await _error(response, 413)
        front.assert_nothing_held()
    assert error["code"] == "payload_too_large"


async def test_a_chunked_body_over_the_cap_is_a_413(tmp_path: Path) -> None:
    async with open_front(tmp_path) as front:
        async with front.client.request(CHAT, method="POST", headers=front.headers) as connection:
            chunk = b"x" * (4 * 1024 * 1024)
            for _ in range(turn_door.MAX_BODY_BYTES // len(chunk) + 1):
                await connection.send(chunk)
            await connection.send_complete()
            response = await connection.as_response()
        error = await _error(response, 413)
        front.assert_nothing_held()
    assert error["code"] == "payload_too_large"


async def test_a_body_that_never_finishes_is_a_408_at_the_read_deadline(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_front(tmp_path) as front:
        started = trio.current_time()
        async with front.client.request(CHAT, method="POST", headers=front.headers) as connection:
            await connection.send(b'{"model": "acme/chat",')
            response = await connection.as_response()
        assert trio.current_time() - started == turn_door.BODY_READ_TIMEOUT_S
        error = await _error(response, 408)
        front.assert_nothing_held()
    assert error["code"] == "timeout"


async def test_a_body_beyond_the_byte_budget_is_a_503_with_retry_after(tmp_path: Path) -> None:
    async with open_front(tmp_path, budget_bytes=1024) as front:
        body = _body(CHAT, model="acme/chat", messages=[{"role": "user", "content": "y" * 4096}])
        response = await front.post(CHAT, body)
        error = await _error(response, 503)
        assert int(response.headers["Retry-After"]) >= 1
        assert front.budget.statistics().refused == 1
        front.assert_nothing_held()
    assert error["code"] == "server_busy"


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b'{"model": "acme/chat", "messages": [', "request body"),
        (b'{"model": "acme/chat", "temperature": NaN}', "not a JSON number"),
        (b'{"model": "\xff\xfe"}', "UTF-8"),
    ],
)
async def test_a_body_that_is_not_strict_json_is_a_400_invalid_json(
    tmp_path: Path, raw: bytes, says: str
) -> None:
    async with open_front(tmp_path) as front:
        error = await front.refused(CHAT, raw, 400)
    assert error["code"] == "invalid_json"
    assert says in error["message"]


@BOTH
async def test_a_body_that_is_not_an_object_is_a_400(tmp_path: Path, path: str) -> None:
    async with open_front(tmp_path) as front:
        error = await front.refused(path, ["acme/chat"], 400)
    assert error["code"] == "invalid_json"


@BOTH
@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({}, "model"),
        ({"model": ""}, "model"),
        ({"model": 7}, "model"),
        ({"model": "acme/chat", "stream": 1}, "stream"),
    ],
)
async def test_a_field_every_turn_needs_that_is_missing_or_wrong_is_a_400_naming_it(
    tmp_path: Path, path: str, fields: dict[str, Any], param: str
) -> None:
    async with open_front(tmp_path) as front:
        error = await front.refused(path, _body(path, **fields), 400)
    assert (error["code"], error["param"]) == ("invalid_request", param)


@BOTH
async def test_an_unknown_model_is_a_404_naming_model(tmp_path: Path, path: str) -> None:
    async with open_front(tmp_path) as front:
        error = await front.refused(path, _body(path, model="acme/none"), 404)
        assert front.gateway is not None
        assert front.gateway.sessions.statistics().started == 0
    assert (error["code"], error["param"]) == ("model_not_found", "model")


@BOTH
async def test_no_catalog_yet_is_a_503_with_retry_after(tmp_path: Path, path: str) -> None:
    async with open_front(tmp_path, catalog=False) as front:
        response = await front.post(path, _body(path, model="acme/chat"))
        error = await _error(response, 503)
        assert response.headers["Retry-After"] == "5"
        front.assert_nothing_held()
    assert error["code"] == "catalog_unavailable"


@BOTH
async def test_an_upstream_refusal_before_any_output_keeps_its_status(
    tmp_path: Path, path: str, autojump_clock: trio.testing.MockClock
) -> None:
    refused = UpstreamError(UpstreamErrorKind.RATE_LIMITED, "slow down", status=429)
    async with open_front(tmp_path, ScriptedUpstream(refused)) as front:
        response = await front.post(path, _body(path, model="acme/chat"))
        await _error(response, 429)
        await trio.testing.wait_all_tasks_blocked()
        front.assert_nothing_held()


@BOTH
async def test_a_request_through_the_door_is_answered_and_releases_everything(
    tmp_path: Path, path: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_front(tmp_path) as front:
        response = await front.post(path, _body(path, model="acme/chat"))
        assert response.status_code == 200
        answer = json.dumps(await response.get_json())
        await trio.testing.wait_all_tasks_blocked()
        front.assert_nothing_held()
    assert "Hello" in answer


# -- each endpoint's own refusals ----------------------------------------------------------------


@pytest.mark.parametrize("choices", [0, 2, "2", True])
async def test_chat_n_other_than_1_is_a_400_naming_n(tmp_path: Path, choices: object) -> None:
    async with open_front(tmp_path) as front:
        error = await front.refused(CHAT, _body(CHAT, model="acme/chat", n=choices), 400)
    assert (error["code"], error["param"]) == ("invalid_request", "n")


async def test_responses_a_bad_input_item_is_a_400_naming_the_responses_field(
    tmp_path: Path,
) -> None:
    body = {"model": "acme/chat", "input": [{"role": [], "content": "hi"}]}
    async with open_front(tmp_path) as front:
        error = await front.refused(RESPONSES, body, 400)
    assert error["param"] == "input[0].role"


async def test_responses_a_turn_refusal_names_the_responses_field_not_the_chat_one(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    body = {
        "model": "acme/chat",
        "instructions": "Be brief.",
        "input": [
            {"role": "user", "content": "hi"},
            {"role": "user", "content": [{"type": "input_text"}]},
        ],
    }
    async with open_front(tmp_path) as front:
        error = await _error(await front.post(RESPONSES, body), 400)
        await trio.testing.wait_all_tasks_blocked()
        front.assert_nothing_held()
    assert error["param"].startswith("input[1].content[0]")
    assert error["message"].startswith("input[1].content[0]")
