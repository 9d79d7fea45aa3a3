"""HTTP errors before any stream: auth, validation, model choice and the sim/error-* models."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import trio

from tests.simulator.conftest import StartSimulator


async def _post(client: httpx.AsyncClient, body: Any, **kwargs: Any) -> httpx.Response:
    with trio.fail_after(10):
        if isinstance(body, bytes):
            return await client.post("/responses", content=body, **kwargs)
        return await client.post("/responses", json=body, **kwargs)


async def test_missing_key_is_no_auth_credentials(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=f"{base_url}/api/v1") as anonymous:
        reply = await _post(anonymous, {"model": "sim/text", "input": "hi"})
    assert reply.status_code == 401
    assert reply.json() == {"error": {"message": "No auth credentials found", "code": 401}}


async def test_unknown_key_is_user_not_found(client: httpx.AsyncClient) -> None:
    reply = await _post(
        client, {"model": "sim/text", "input": "hi"}, headers={"Authorization": "Bearer nope"}
    )
    assert reply.status_code == 401
    assert reply.json() == {"error": {"message": "User not found.", "code": 401}}


async def test_configured_key_list_is_enforced(start_simulator: StartSimulator) -> None:
    root = await start_simulator(api_keys=["secret-1"])
    async with httpx.AsyncClient(base_url=f"{root}/api/v1") as http:
        good = await _post(
            http, {"model": "sim/text", "input": "hi"}, headers={"Authorization": "Bearer secret-1"}
        )
        bad = await _post(
            http, {"model": "sim/text", "input": "hi"}, headers={"Authorization": "Bearer sk-or-x"}
        )
    assert (good.status_code, bad.status_code) == (200, 401)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"input": "hi"}, ["model"]),
        ({"model": "sim/text"}, ["input"]),
        ({"model": "sim/text", "input": "hi", "store": True}, ["store"]),
        (
            {"model": "sim/text", "input": "hi", "previous_response_id": "resp_1"},
            ["previous_response_id"],
        ),
        ({"model": "sim/text", "input": 5}, ["input"]),
        (
            {
                "model": "sim/text",
                "input": [{"type": "reasoning", "id": "rs_1", "encrypted_content": "gAAAA"}],
            },
            ["input", 0, "summary"],
        ),
    ],
)
async def test_invalid_body_is_invalid_prompt(
    client: httpx.AsyncClient, body: dict[str, Any], path: list[str]
) -> None:
    reply = await _post(client, body)
    assert reply.status_code == 400
    payload = reply.json()
    assert payload["error"] == {
        "code": "invalid_prompt",
        "message": "Invalid Responses API request",
    }
    assert [issue["path"] for issue in json.loads(payload["metadata"]["raw"])] == [path]


async def test_malformed_json_is_invalid_prompt(client: httpx.AsyncClient) -> None:
    reply = await _post(client, b"{not json", headers={"Content-Type": "application/json"})
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "invalid_prompt"


async def test_unknown_model_is_model_not_found(client: httpx.AsyncClient) -> None:
    reply = await _post(client, {"model": "nobody/nothing", "input": "hi"})
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["code"] == 400
    assert error["availability"]["code"] == "model_not_found"


async def test_image_to_text_only_model_is_rejected(client: httpx.AsyncClient) -> None:
    content = [{"type": "input_image", "image_url": "https://example.com/a.png", "detail": "auto"}]
    reply = await _post(
        client, {"model": "sim/text", "input": [{"role": "user", "content": content}]}
    )
    assert reply.status_code == 400
    assert "image input" in reply.json()["error"]["message"]


async def test_fallback_model_serves_after_rate_limit(client: httpx.AsyncClient) -> None:
    reply = await _post(client, {"model": "sim/error-429", "models": ["sim/text"], "input": "hi"})
    assert reply.status_code == 200
    assert reply.json()["model"] == "sim/text"


async def test_error_400_model_sends_invalid_prompt_with_raw(client: httpx.AsyncClient) -> None:
    reply = await _post(client, {"model": "sim/error-400", "input": "hi", "stream": True})
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "invalid_prompt"
    assert json.loads(reply.json()["metadata"]["raw"])


async def test_error_401_model_sends_user_not_found(client: httpx.AsyncClient) -> None:
    reply = await _post(client, {"model": "sim/error-401", "input": "hi"})
    assert (reply.status_code, reply.json()["error"]["message"]) == (401, "User not found.")


async def test_error_402_model_sends_insufficient_credits(client: httpx.AsyncClient) -> None:
    reply = await _post(client, {"model": "sim/error-402", "input": "hi"})
    assert reply.status_code == 402
    assert reply.json()["error"]["message"].startswith("Insufficient credits")


async def test_error_403_model_sends_moderation_metadata(client: httpx.AsyncClient) -> None:
    reply = await _post(client, {"model": "sim/error-403", "input": "bad words " * 20})
    metadata = reply.json()["error"]["metadata"]
    assert reply.status_code == 403
    assert set(metadata) == {"reasons", "flagged_input", "provider_name", "model_slug"}
    assert len(metadata["flagged_input"]) <= 100
    assert metadata["model_slug"] == "sim/error-403"


async def test_error_408_model_sends_timeout(client: httpx.AsyncClient) -> None:
    reply = await _post(client, {"model": "sim/error-408", "input": "hi"})
    assert reply.status_code == 408
    assert reply.json() == {
        "error": {"code": 408, "message": "Operation timed out. Please try again later."}
    }


async def test_error_429_model_sends_retry_after_and_limits(
    start_simulator: StartSimulator,
) -> None:
    root = await start_simulator(retry_after_s=7)
    async with httpx.AsyncClient(base_url=f"{root}/api/v1") as http:
        reply = await _post(
            http,
            {"model": "sim/error-429", "input": "hi"},
            headers={"Authorization": "Bearer sk-or-1"},
        )
    assert reply.status_code == 429
    assert reply.headers["retry-after"] == "7"
    assert reply.headers["x-ratelimit-remaining"] == "0"
    error = reply.json()["error"]
    assert error["code"] == 429
    assert error["metadata"]["headers"]["X-RateLimit-Limit"] == "50"


async def test_error_502_model_sends_provider_error(client: httpx.AsyncClient) -> None:
    reply = await _post(client, {"model": "sim/error-502", "input": "hi"})
    error = reply.json()["error"]
    assert (reply.status_code, error["message"]) == (502, "Provider returned error")
    assert set(error["metadata"]) == {"raw", "provider_name"}


async def test_error_503_model_sends_retry_after(client: httpx.AsyncClient) -> None:
    reply = await _post(client, {"model": "sim/error-503", "input": "hi"})
    assert reply.status_code == 503
    assert reply.headers["retry-after"] == "2"


async def test_invalid_pacing_override_is_rejected(client: httpx.AsyncClient) -> None:
    reply = await _post(
        client, {"model": "sim/text", "input": "hi"}, headers={"X-Sim-Answer-Words": "many"}
    )
    assert reply.status_code == 400


async def test_media_parts_of_the_wrong_shape_are_invalid_prompts(
    client: httpx.AsyncClient,
) -> None:
    content = [
        {"type": "input_image", "image_url": "file:///etc/passwd"},
        {"type": "input_file", "filename": "a.pdf"},
        {"type": "input_file", "file_data": "JVBERi0="},
        {"type": "input_audio", "input_audio": {"data": "AA==", "format": "ogg"}},
        {"type": "input_video"},
    ]
    body = {"model": "sim/vision", "input": [{"role": "user", "content": content}]}
    response = await client.post("/responses", json=body)
    assert response.status_code == 400
    issues = json.loads(response.json()["metadata"]["raw"])
    assert [issue["path"][-1] for issue in issues] == [
        "image_url",
        1,
        "file_data",
        "format",
        "video_url",
    ]
