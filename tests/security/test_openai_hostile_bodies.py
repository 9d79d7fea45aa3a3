"""Hostile bodies on the OpenAI API: always OpenAI-shaped JSON errors, never HTML or a 500.

Regression tests of issue 9: deep nesting, NaN/Infinity, lone surrogates, invalid UTF-8, the
framework's own 404/405/408/413 (HTML before), ``n`` other than 1 (silently ignored before),
and a body beyond the byte budget (503 at once, before it is parsed).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import trio

from pipe_service.front import turn_door
from tests.service.conftest import Sidecar

CHAT: dict[str, Any] = {"model": "sim/text", "messages": [{"role": "user", "content": "hi"}]}


def _assert_openai_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "<html" not in response.text.lower()
    return error


async def _post_raw(sidecar: Sidecar, content: bytes, **headers: str) -> httpx.Response:
    async with sidecar.tcp_client(timeout=30) as client:
        with trio.fail_after(30):
            return await client.post(
                "/v1/chat/completions",
                content=content,
                headers={"content-type": "application/json", **headers},
            )


async def _post_over_raw_socket(sidecar: Sidecar, content: bytes) -> httpx.Response:
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: sidecar\r\n"
        f"Authorization: Bearer {sidecar.api_token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(content)}\r\nConnection: close\r\n\r\n"
    ).encode()
    received = b""
    with trio.fail_after(30):
        stream = await trio.open_tcp_stream("127.0.0.1", sidecar.settings.port)
        async with stream, trio.open_nursery() as nursery:
            nursery.start_soon(_send_until_refused, stream, head + content)
            try:
                while chunk := await stream.receive_some(65536):
                    received += chunk
            except trio.BrokenResourceError:
                pass  # the server reset the connection after answering: we have the answer
    status_line, _, rest = received.partition(b"\r\n")
    header_block, _, payload = rest.partition(b"\r\n\r\n")
    headers = [tuple(line.decode().split(": ", 1)) for line in header_block.split(b"\r\n") if line]
    return httpx.Response(int(status_line.split()[1]), headers=headers, content=payload)


async def _send_until_refused(stream: trio.SocketStream, data: bytes) -> None:
    # Answered (and closed) before the whole body was sent: the point of the test.
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        await stream.send_all(data)


def _chat_with_text_literal(literal: str) -> bytes:
    marker = "@@TEXT@@"
    body = {**CHAT, "messages": [{"role": "user", "content": marker}]}
    return json.dumps(body).replace(json.dumps(marker), literal).encode()


async def test_deep_nesting_is_a_400(sidecar: Sidecar) -> None:
    response = await _post_raw(sidecar, _chat_with_text_literal("[" * 5000 + "]" * 5000))
    error = _assert_openai_error(response, 400)
    assert "nested deeper" in error["message"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
async def test_non_finite_numbers_are_a_400(sidecar: Sidecar, literal: str) -> None:
    body = json.dumps({**CHAT, "temperature": "@@N@@"}).replace('"@@N@@"', literal)
    response = await _post_raw(sidecar, body.encode())
    error = _assert_openai_error(response, 400)
    assert "not a JSON number" in error["message"]


async def test_a_lone_surrogate_is_a_400(sidecar: Sidecar) -> None:
    response = await _post_raw(sidecar, _chat_with_text_literal('"x \\udfff y"'))
    error = _assert_openai_error(response, 400)
    assert "surrogate" in error["message"]


async def test_invalid_utf8_is_a_400(sidecar: Sidecar) -> None:
    response = await _post_raw(sidecar, b'{"model": "sim/text", "messages": "\xff\xfe"}')
    error = _assert_openai_error(response, 400)
    assert "UTF-8" in error["message"]


@pytest.mark.parametrize("choices", [0, 2, 5, "2", True])
async def test_n_other_than_1_is_a_400_naming_n(sidecar: Sidecar, choices: Any) -> None:
    response = await _post_raw(sidecar, json.dumps({**CHAT, "n": choices}).encode())
    error = _assert_openai_error(response, 400)
    assert error["param"] == "n"


async def test_n_equal_to_1_is_served(sidecar: Sidecar) -> None:
    response = await _post_raw(sidecar, json.dumps({**CHAT, "n": 1}).encode())
    assert response.status_code == 200
    assert len(response.json()["choices"]) == 1


async def test_an_unknown_path_is_a_json_404(sidecar: Sidecar) -> None:
    async with sidecar.tcp_client() as client:
        response = await client.get("/v1/no-such-endpoint")
    _assert_openai_error(response, 404)


async def test_a_wrong_method_is_a_json_405(sidecar: Sidecar) -> None:
    async with sidecar.tcp_client() as client:
        response = await client.get("/v1/chat/completions")
    _assert_openai_error(response, 405)
    assert "POST" in response.headers["allow"]


async def test_a_body_over_the_cap_is_a_json_413(
    sidecar: Sidecar, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(turn_door, "MAX_BODY_BYTES", 10_000)
    body = {**CHAT, "messages": [{"role": "user", "content": "x" * 20_000}]}
    response = await _post_raw(sidecar, json.dumps(body).encode())
    _assert_openai_error(response, 413)


async def test_a_chunked_body_over_the_cap_is_a_json_413(
    sidecar: Sidecar, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(turn_door, "MAX_BODY_BYTES", 10_000)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"model": "sim/text", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"x" * 4096

    async with sidecar.tcp_client(timeout=30) as client:
        response = await client.post("/v1/chat/completions", content=chunks())
    _assert_openai_error(response, 413)


async def test_a_body_that_never_finishes_is_a_json_408(
    sidecar: Sidecar, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(turn_door, "BODY_READ_TIMEOUT_S", 0.2)

    async def stalls() -> AsyncIterator[bytes]:
        yield b'{"model": "sim/text",'
        await trio.sleep(5)
        yield b"}"

    async with sidecar.tcp_client(timeout=30) as client:
        with trio.fail_after(10):
            response = await client.post("/v1/chat/completions", content=stalls())
    _assert_openai_error(response, 408)


@pytest.mark.parametrize(
    "sidecar_overrides", [{"admission": {"max_request_bytes_in_flight": 1024 * 1024}}]
)
async def test_a_body_beyond_the_byte_budget_is_a_503_with_retry_after(sidecar: Sidecar) -> None:
    body = {**CHAT, "messages": [{"role": "user", "content": "y" * 2_000_000}]}
    # A raw connection: the answer comes before the body is sent, which httpx's request
    # stream does not expect (it leaves its body generator unfinished).
    response = await _post_over_raw_socket(sidecar, json.dumps(body).encode())
    error = _assert_openai_error(response, 503)
    assert error["code"] == "server_busy"
    assert int(response.headers["retry-after"]) >= 1
    stats = sidecar.running.byte_budget.statistics()
    assert stats.refused == 1
    assert stats.in_flight == 0
    assert sidecar.running.gateway.sessions.statistics().started == 0


@pytest.mark.parametrize(
    "sidecar_overrides", [{"admission": {"max_request_bytes_in_flight": 1024 * 1024}}]
)
async def test_streamed_answers_hold_their_body_bytes_until_the_stream_ends(
    sidecar: Sidecar,
) -> None:
    body = {**CHAT, "stream": True, "messages": [{"role": "user", "content": "w" * 400_000}]}
    async with (
        sidecar.tcp_client(timeout=30) as client,
        client.stream("POST", "/v1/chat/completions", json=body) as response,
    ):
        assert response.status_code == 200
        assert sidecar.running.byte_budget.statistics().in_flight >= 400_000
        lines = [line async for line in response.aiter_lines()]
    assert lines[-2:] == ["data: [DONE]", ""] or lines[-1] == "data: [DONE]"
    for _ in range(100):
        if sidecar.running.byte_budget.statistics().in_flight == 0:
            break
        await trio.sleep(0.01)
    assert sidecar.running.byte_budget.statistics().in_flight == 0


@pytest.mark.parametrize("field", ["stream", "messages", "model", "tools", "temperature"])
@pytest.mark.parametrize("value", [[], {}, "text", 3, None, {"a": {"b": [1, 2]}}])
async def test_wrong_types_in_top_level_fields_are_4xx_json(
    sidecar: Sidecar, field: str, value: Any
) -> None:
    response = await _post_raw(sidecar, json.dumps({**CHAT, field: value}).encode())
    if response.status_code == 200:
        return
    assert 400 <= response.status_code < 500, response.text
    _assert_openai_error(response, response.status_code)
