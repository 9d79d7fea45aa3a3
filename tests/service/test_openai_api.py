"""The OpenAI-compatible API, driven by the official ``openai`` SDK against a live sidecar.

The SDK is synchronous, so each call runs in a worker thread while the sidecar (and its
simulator upstream) run on the test's trio loop.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.service.conftest import TEST_API_TOKEN, Sidecar, in_thread


def _client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=TEST_API_TOKEN, max_retries=0)


def _stream_chat(base_url: str, model: str, **extra: Any) -> list[Any]:
    with _client(base_url) as client:
        stream = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "Say hello to the tests"}],
            stream=True,
            **extra,
        )
        with stream:
            return list(stream)


async def test_sdk_streams_text_from_sim_text(sdk_base_url: str) -> None:
    chunks = await in_thread(_stream_chat, sdk_base_url, "sim/text")
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text.strip()
    assert chunks[-1].choices[0].finish_reason == "stop"
    usage = chunks[-1].usage
    assert usage is not None
    assert usage.completion_tokens > 0
    assert usage.model_extra is not None
    assert usage.model_extra["cost"] > 0


async def test_sdk_streams_reasoning_content_from_sim_reasoning(sdk_base_url: str) -> None:
    chunks = await in_thread(_stream_chat, sdk_base_url, "sim/reasoning")
    reasoning = "".join(
        (chunk.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
        for chunk in chunks
        if chunk.choices
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert reasoning.strip()
    assert text.strip()
    assert reasoning not in text


async def test_non_streaming_chat_returns_content_and_usage_with_cost(sdk_base_url: str) -> None:
    def call() -> Any:
        with _client(sdk_base_url) as client:
            return client.chat.completions.create(
                model="sim/text", messages=[{"role": "user", "content": "hello"}]
            )

    completion = await in_thread(call)
    assert completion.choices[0].message.content.strip()
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.model_extra["cost"] > 0


async def test_rate_limit_surfaces_as_429_with_retry_after_once_retries_are_spent(
    sidecar: Sidecar, sdk_base_url: str
) -> None:
    def call() -> openai.RateLimitError:
        with pytest.raises(openai.RateLimitError) as raised:
            _stream_chat(sdk_base_url, "sim/error-429")
        return raised.value

    error = await in_thread(call)
    assert error.status_code == 429
    assert error.response.headers["retry-after"] == "1"
    assert error.code == "rate_limited"
    # Three attempts reached the simulator (retry_max_attempts = 3) before giving up.
    async with sidecar.simulator_client() as client:
        log = (await client.get("/_sim/requests")).json()
    assert [record["model"] for record in log["data"]].count("sim/error-429") == 3


async def test_fail_mid_stream_keeps_partial_text_and_ends_with_the_interrupted_notice(
    sdk_base_url: str,
) -> None:
    chunks = await in_thread(_stream_chat, sdk_base_url, "sim/fail-mid-stream")
    contents = [chunk.choices[0].delta.content for chunk in chunks if chunk.choices]
    contents = [content for content in contents if content]
    partial, notice = "".join(contents[:-1]), contents[-1]
    assert partial.strip()
    assert "interrupted" in notice.lower()
    assert chunks[-1].choices[0].finish_reason == "error"


@pytest.mark.parametrize(
    ("model", "status", "error_class"),
    [
        ("sim/error-401", 401, openai.AuthenticationError),
        ("sim/error-402", 402, openai.APIStatusError),
        ("sim/error-403", 403, openai.PermissionDeniedError),
        ("sim/error-400", 400, openai.BadRequestError),
        ("sim/error-502", 502, openai.InternalServerError),
    ],
)
async def test_upstream_errors_map_to_openai_errors(
    sdk_base_url: str, model: str, status: int, error_class: type[openai.APIStatusError]
) -> None:
    def call() -> openai.APIStatusError:
        with pytest.raises(error_class) as raised:
            _stream_chat(sdk_base_url, model)
        return raised.value

    error = await in_thread(call)
    assert error.status_code == status
    assert "error id err_" in error.message


async def test_unknown_model_is_404_model_not_found(sdk_base_url: str) -> None:
    def call() -> openai.NotFoundError:
        with pytest.raises(openai.NotFoundError) as raised:
            _stream_chat(sdk_base_url, "nobody/no-such-model")
        return raised.value

    error = await in_thread(call)
    assert error.code == "model_not_found"


async def test_invalid_request_is_400_naming_the_field(sdk_base_url: str) -> None:
    def call() -> openai.BadRequestError:
        with _client(sdk_base_url) as client, pytest.raises(openai.BadRequestError) as raised:
            client.chat.completions.create(
                model="sim/text", messages=[{"role": "wizard", "content": "hi"}]
            )
        return raised.value

    error = await in_thread(call)
    assert error.body is not None
    assert error.body["param"].startswith("messages[0]")


async def test_client_tools_come_back_as_tool_calls(sdk_base_url: str) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }

    def call() -> Any:
        with _client(sdk_base_url) as client:
            return client.chat.completions.create(
                model="sim/tool-call",
                messages=[{"role": "user", "content": "Weather in Paris?"}],
                tools=[tool],
            )

    completion = await in_thread(call)
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls[0].function.name == "get_weather"
    assert "city" in choice.message.tool_calls[0].function.arguments


async def test_models_lists_the_catalog(sdk_base_url: str) -> None:
    def call() -> list[Any]:
        with _client(sdk_base_url) as client:
            return list(client.models.list())

    models = await in_thread(call)
    ids = {model.id for model in models}
    assert {"sim/text", "sim/reasoning", "sim/tool-call"} <= ids


async def test_malformed_json_body_is_400(sidecar: Sidecar) -> None:
    async with sidecar.tcp_client() as client:
        response = await client.post(
            "/v1/chat/completions",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


async def test_models_carry_open_webui_capabilities(sidecar: Sidecar) -> None:
    async with sidecar.tcp_client() as client:
        rows = {row["id"]: row for row in (await client.get("/v1/models")).json()["data"]}
    vision = rows["sim/vision"]["open_webui"]["capabilities"]
    text = rows["sim/text"]["open_webui"]["capabilities"]
    assert vision["vision"] is True
    assert vision["file_upload"] is True
    assert text["vision"] is False
    assert text["file_upload"] is False
