"""Conformance: the official ``openai`` SDK (Responses client) parses every simulator scenario.

The SDK is synchronous, so each call runs in a worker thread (``trio.to_thread.run_sync``) while
the simulator serves from the test's nursery. ``max_retries=0`` keeps error tests single-shot.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import openai
import pytest
import trio
from openai.types.responses import ResponseStreamEvent

from tests.simulator.conftest import weather_tool

T = TypeVar("T")


@pytest.fixture
def sdk(base_url: str) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(base_url=f"{base_url}/api/v1", api_key="sk-or-test", max_retries=0)
    try:
        yield client
    finally:
        client.close()


async def _in_thread(fn: Callable[[], T]) -> T:
    with trio.fail_after(20):
        return await trio.to_thread.run_sync(fn)


def _stream(sdk: openai.OpenAI, **kwargs: Any) -> Callable[[], list[ResponseStreamEvent]]:
    def run() -> list[ResponseStreamEvent]:
        with sdk.responses.create(stream=True, **kwargs) as events:
            return list(events)

    return run


async def test_sdk_streams_text(sdk: openai.OpenAI) -> None:
    events = await _in_thread(_stream(sdk, model="sim/text", input="hello sdk"))
    types = [event.type for event in events]
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert types[-1] == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    final = events[-1].response  # type: ignore[union-attr]
    assert text.startswith("You said: hello sdk.")
    assert final.output_text == text
    assert final.usage is not None
    assert (final.usage.model_extra or {})["cost"] > 0


async def test_sdk_non_stream_text(sdk: openai.OpenAI) -> None:
    response = await _in_thread(lambda: sdk.responses.create(model="sim/text", input="plain"))
    assert response.status == "completed"
    assert response.output_text.startswith("You said: plain.")
    assert response.usage is not None
    assert response.usage.total_tokens > 0


async def test_sdk_reads_visible_reasoning(sdk: openai.OpenAI) -> None:
    events = await _in_thread(_stream(sdk, model="sim/reasoning", input="think"))
    reasoning = "".join(e.delta for e in events if e.type == "response.reasoning_text.delta")
    item = next(e.item for e in events if e.type == "response.output_item.done")
    assert item.type == "reasoning"
    assert item.content is not None
    assert item.content[0].text == reasoning
    assert item.model_extra["signature"]  # type: ignore[index]


async def test_sdk_reads_encrypted_reasoning_summary(sdk: openai.OpenAI) -> None:
    run = _stream(sdk, model="sim/encrypted-reasoning", input="hi", reasoning={"summary": "auto"})
    events = await _in_thread(run)
    item = next(e.item for e in events if e.type == "response.output_item.done")
    assert item.type == "reasoning"
    assert item.encrypted_content is not None
    assert item.encrypted_content.startswith("gAAAA")
    assert item.summary[0].text.startswith("**Planning**")


async def test_sdk_reads_function_calls(sdk: openai.OpenAI) -> None:
    tools: Any = [weather_tool("a"), weather_tool("b")]
    events = await _in_thread(_stream(sdk, model="sim/tool-call", input="x", tools=tools))
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert [json.loads(e.arguments) for e in done] == [{"city": "Paris", "days": 1}] * 2
    calls = events[-1].response.output  # type: ignore[union-attr]
    assert [(c.type, c.name) for c in calls] == [("function_call", "a"), ("function_call", "b")]  # type: ignore[union-attr]


async def test_sdk_reads_annotations(sdk: openai.OpenAI) -> None:
    events = await _in_thread(_stream(sdk, model="sim/web-citations", input="news"))
    added = [e.annotation for e in events if e.type == "response.output_text.annotation.added"]
    final = events[-1].response  # type: ignore[union-attr]
    message = final.output[-1]
    assert message.type == "message"
    annotations = message.content[0].annotations  # type: ignore[union-attr,index]
    assert [a.url for a in annotations] == [a.url for a in added]  # type: ignore[union-attr]
    assert [a.url for a in added] == [  # type: ignore[union-attr]
        "https://example.com/docs/simulator",
        "https://news.example.org/articles/42",
    ]
    assert final.output[0].type == "openrouter:web_search"


async def test_sdk_reads_vision_answer(sdk: openai.OpenAI) -> None:
    content: Any = [
        {"type": "input_text", "text": "what is this"},
        {"type": "input_image", "image_url": "https://example.com/cat.png", "detail": "auto"},
    ]
    response = await _in_thread(
        lambda: sdk.responses.create(
            model="sim/vision", input=[{"role": "user", "content": content}]
        )
    )
    assert response.output_text.startswith("Received 1 image(s) and 0 file(s).")


async def test_sdk_reads_response_failed(sdk: openai.OpenAI) -> None:
    events = await _in_thread(_stream(sdk, model="sim/fail-mid-stream", input="x"))
    failed = events[-1]
    assert failed.type == "response.failed"
    assert failed.response.error is not None
    assert failed.response.error.code == "server_error"


async def test_sdk_raises_connection_error_on_disconnect(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.APIConnectionError):
        await _in_thread(_stream(sdk, model="sim/disconnect", input="x"))


@pytest.mark.parametrize(
    ("model", "error_class"),
    [
        ("sim/error-400", openai.BadRequestError),
        ("sim/error-401", openai.AuthenticationError),
        ("sim/error-402", openai.APIStatusError),
        ("sim/error-403", openai.PermissionDeniedError),
        ("sim/error-408", openai.APIStatusError),
        ("sim/error-429", openai.RateLimitError),
        ("sim/error-502", openai.InternalServerError),
        ("sim/error-503", openai.InternalServerError),
    ],
)
async def test_sdk_maps_error_statuses(
    sdk: openai.OpenAI, model: str, error_class: type[openai.APIStatusError]
) -> None:
    with pytest.raises(error_class) as caught:
        await _in_thread(_stream(sdk, model=model, input="x"))
    assert caught.value.status_code == int(model.rsplit("-", 1)[1])


async def test_sdk_rate_limit_exposes_retry_after(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        await _in_thread(lambda: sdk.responses.create(model="sim/error-429", input="x"))
    assert caught.value.response.headers["retry-after"] == "2"
