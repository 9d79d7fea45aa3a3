"""``POST /v1/responses``, driven by the official ``openai`` SDK's Responses client against a live
sidecar (simulator upstream, real sockets, real SQLite).

The SDK is synchronous, so each call runs in a worker thread while the sidecar runs on the
test's trio loop.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.service.conftest import TEST_API_TOKEN, Sidecar, in_thread

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def _client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=TEST_API_TOKEN, max_retries=0)


def _stream(base_url: str, model: str, **extra: Any) -> list[Any]:
    with _client(base_url) as client:
        extra.setdefault("input", "Say hello to the tests")
        stream = client.responses.create(model=model, stream=True, **extra)
        with stream:
            return list(stream)


def _create(base_url: str, model: str, **extra: Any) -> Any:
    with _client(base_url) as client:
        extra.setdefault("input", "Say hello to the tests")
        return client.responses.create(model=model, **extra)


async def test_sdk_streams_text_deltas_and_a_completed_response_with_usage(
    sdk_base_url: str,
) -> None:
    events = await in_thread(_stream, sdk_base_url, "sim/text")
    types = [event.type for event in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    text = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert text.strip()
    final = events[-1].response
    assert final.output_text == text
    assert final.usage.output_tokens > 0
    assert final.usage.model_extra["cost"] > 0
    assert [event.sequence_number for event in events] == list(range(len(events)))


async def test_non_streaming_response_carries_the_text_and_usage(sdk_base_url: str) -> None:
    response = await in_thread(_create, sdk_base_url, "sim/text")
    assert response.status == "completed"
    assert response.output_text.strip()
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens


async def test_reasoning_streams_as_a_summary_before_the_answer(sdk_base_url: str) -> None:
    events = await in_thread(_stream, sdk_base_url, "sim/reasoning")
    reasoning = "".join(
        event.delta for event in events if event.type == "response.reasoning_summary_text.delta"
    )
    final = events[-1].response
    assert reasoning.strip()
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output[0].summary[0].text == reasoning
    assert reasoning not in final.output_text


async def test_client_function_tools_come_back_as_function_call_items(sdk_base_url: str) -> None:
    response = await in_thread(
        lambda: _create(
            sdk_base_url, "sim/tool-call", input="Weather in Paris?", tools=[WEATHER_TOOL]
        )
    )
    calls = [item for item in response.output if item.type == "function_call"]
    assert calls[0].name == "get_weather"
    assert "city" in calls[0].arguments
    assert calls[0].call_id


async def test_function_call_output_goes_upstream_as_the_next_turn_input(
    sidecar: Sidecar, sdk_base_url: str
) -> None:
    conversation = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny, 21 C"},
    ]
    response = await in_thread(
        lambda: _create(
            sdk_base_url,
            "sim/text",
            input=conversation,
            instructions="Answer briefly.",
            tools=[WEATHER_TOOL],
        )
    )
    assert response.status == "completed"
    async with sidecar.simulator_client() as client:
        log = (await client.get("/_sim/requests")).json()
    sent = log["data"][-1]["body"]
    assert sent["instructions"] == "Answer briefly."
    assert [item["type"] for item in sent["input"]] == [
        "message",
        "function_call",
        "function_call_output",
    ]
    assert sent["input"][2]["output"] == "sunny, 21 C"
    assert sent["tools"][0]["name"] == "get_weather"


async def test_failure_mid_stream_ends_with_response_failed_after_the_partial_text(
    sdk_base_url: str,
) -> None:
    events = await in_thread(_stream, sdk_base_url, "sim/fail-mid-stream")
    partial = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert partial.strip()
    assert events[-1].type == "response.failed"
    assert events[-1].response.error.message
    assert events[-1].response.output[0].status == "incomplete"


@pytest.mark.parametrize(
    ("model", "error_class"),
    [
        ("sim/error-401", openai.AuthenticationError),
        ("sim/error-400", openai.BadRequestError),
        ("sim/error-502", openai.InternalServerError),
        ("nobody/no-such-model", openai.NotFoundError),
    ],
)
async def test_errors_before_output_are_openai_errors(
    sdk_base_url: str, model: str, error_class: type[openai.APIStatusError]
) -> None:
    def call() -> openai.APIStatusError:
        with pytest.raises(error_class) as raised:
            _stream(sdk_base_url, model)
        return raised.value

    error = await in_thread(call)
    assert error.body is not None
    assert error.body["code"]


async def test_invalid_input_item_is_400_naming_the_input_field(sdk_base_url: str) -> None:
    def call() -> openai.BadRequestError:
        with pytest.raises(openai.BadRequestError) as raised:
            _create(
                sdk_base_url,
                "sim/text",
                instructions="Be brief.",
                input=[
                    {"role": "user", "content": "hi"},
                    {"role": "user", "content": [{"type": "input_text"}]},
                ],
            )
        return raised.value

    error = await in_thread(call)
    assert error.body is not None
    assert error.body["param"].startswith("input[1].content[0]")


async def test_previous_response_id_is_refused_as_stateless(sdk_base_url: str) -> None:
    def call() -> openai.BadRequestError:
        with pytest.raises(openai.BadRequestError) as raised:
            _create(sdk_base_url, "sim/text", previous_response_id="resp_123")
        return raised.value

    error = await in_thread(call)
    assert error.body is not None
    assert error.body["param"] == "previous_response_id"


async def test_malformed_json_body_is_400(sidecar: Sidecar) -> None:
    async with sidecar.tcp_client() as client:
        response = await client.post(
            "/v1/responses", content=b"{not json", headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


async def test_tcp_without_the_token_is_refused(sidecar: Sidecar) -> None:
    async with sidecar.tcp_client(token=False) as client:
        response = await client.post("/v1/responses", json={"model": "sim/text", "input": "hi"})
    assert response.status_code == 401


async def test_web_citations_become_url_citation_annotations(sdk_base_url: str) -> None:
    events = await in_thread(_stream, sdk_base_url, "sim/web-citations")
    added = [e for e in events if e.type == "response.output_text.annotation.added"]
    final = events[-1].response
    annotations = final.output[-1].content[0].annotations
    assert added
    assert [a.url for a in annotations] == [e.annotation.url for e in added]
    assert all(a.type == "url_citation" for a in annotations)


async def test_streamed_function_call_arrives_as_item_and_argument_events(
    sdk_base_url: str,
) -> None:
    events = await in_thread(
        lambda: _stream(
            sdk_base_url, "sim/tool-call", input="Weather in Paris?", tools=[WEATHER_TOOL]
        )
    )
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    items = [e.item for e in events if e.type == "response.output_item.done"]
    assert "city" in done[0].arguments
    assert items[-1].type == "function_call"
    assert items[-1].arguments == done[0].arguments


async def test_a_responses_request_is_counted_with_its_usage_under_its_own_front(
    sidecar: Sidecar, sdk_base_url: str
) -> None:
    await in_thread(_create, sdk_base_url, "sim/text")
    async with sidecar.uds_client() as client:
        metrics = (await client.get("/metrics")).text
    counted = [
        line for line in metrics.splitlines() if line.startswith("pipe_service_requests_total{")
    ]
    assert any('front="responses"' in line and 'outcome="completed"' in line for line in counted)
    assert any(
        line.startswith("pipe_service_tokens_total{") and 'model="sim/text"' in line
        for line in metrics.splitlines()
    )


async def test_a_wrong_type_in_an_input_item_is_a_400_naming_it_not_a_500(sidecar: Sidecar) -> None:
    body = {"model": "sim/text", "input": [{"role": [], "content": "hi"}]}
    async with sidecar.tcp_client() as client:
        response = await client.post("/v1/responses", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "input[0].role"
