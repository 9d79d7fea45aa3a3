"""The simulator's ``/chat/completions``: the same scenarios in chat-completions wire format."""

from __future__ import annotations

import json
from typing import Any

import httpx
import trio

from tests.simulator.conftest import read_sse


async def read_chat_sse(client: httpx.AsyncClient, body: dict[str, Any]) -> list[Any]:
    """POST /chat/completions with stream=true; the parsed chunks, then the string "[DONE]"."""
    chunks: list[Any] = []
    async with client.stream(
        "POST", "/chat/completions", json={**body, "stream": True}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                payload = line.removeprefix("data: ")
                chunks.append(payload if payload == "[DONE]" else json.loads(payload))
    return chunks


def chat(model: str, text: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


async def test_streamed_text_arrives_as_chunks_then_finish_then_usage_then_done(
    client: httpx.AsyncClient,
) -> None:
    with trio.fail_after(10):
        chunks = await read_chat_sse(client, chat("sim/text"))
    assert chunks[-1] == "[DONE]"
    objects = chunks[:-1]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in objects)
    assert objects[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in objects if c["choices"])
    assert text.startswith("You said: hello there.")
    finish = [c for c in objects if c["choices"] and c["choices"][0]["finish_reason"]]
    assert [c["choices"][0]["finish_reason"] for c in finish] == ["stop"]
    usage = objects[-1]
    assert usage["choices"] == []
    assert usage["usage"]["prompt_tokens"] > 0
    assert usage["usage"]["completion_tokens"] > 0
    assert "cached_tokens" in usage["usage"]["prompt_tokens_details"]


async def test_non_stream_answer_is_one_chat_completion(client: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        reply = await client.post("/chat/completions", json=chat("sim/text"))
    body = reply.json()
    assert reply.status_code == 200
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"].startswith("You said: hello there.")
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] > 0


async def test_tool_calls_stream_with_id_and_name_first_then_argument_pieces(
    client: httpx.AsyncClient,
) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    with trio.fail_after(10):
        chunks = await read_chat_sse(client, chat("sim/tool-call", "weather?", tools=[tool]))
    calls = [
        call
        for chunk in chunks[:-1]
        if chunk["choices"]
        for call in chunk["choices"][0]["delta"].get("tool_calls", [])
    ]
    assert calls[0]["function"]["name"] == "get_weather"
    assert calls[0]["id"].startswith("call_")
    arguments = "".join(call["function"]["arguments"] for call in calls)
    assert json.loads(arguments)["city"]
    finishes = [c["choices"][0]["finish_reason"] for c in chunks[:-1] if c["choices"]]
    assert "tool_calls" in finishes


async def test_visible_reasoning_streams_as_reasoning_with_a_signed_detail(
    client: httpx.AsyncClient,
) -> None:
    with trio.fail_after(10):
        chunks = await read_chat_sse(client, chat("sim/reasoning"))
    deltas = [c["choices"][0]["delta"] for c in chunks[:-1] if c["choices"]]
    assert "".join(d.get("reasoning", "") for d in deltas).startswith("The user wrote")
    signed = [
        detail
        for delta in deltas
        for detail in delta.get("reasoning_details", [])
        if detail.get("signature")
    ]
    assert signed
    assert signed[0]["format"] == "anthropic-claude-v1"


async def test_mid_stream_failure_is_an_error_chunk_with_finish_reason_error(
    client: httpx.AsyncClient,
) -> None:
    with trio.fail_after(10):
        chunks = await read_chat_sse(client, chat("sim/fail-mid-stream"))
    failed = [c for c in chunks[:-1] if isinstance(c, dict) and "error" in c]
    assert len(failed) == 1
    assert failed[0]["choices"][0]["finish_reason"] == "error"
    assert failed[0]["error"]["message"]


async def test_a_chat_body_without_messages_is_refused_with_an_integer_coded_400(
    client: httpx.AsyncClient,
) -> None:
    with trio.fail_after(10):
        reply = await client.post("/chat/completions", json={"model": "sim/text"})
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == 400
    assert "messages" in reply.json()["error"]["metadata"]["raw"]


async def test_chat_only_model_refuses_responses_but_answers_chat(
    client: httpx.AsyncClient,
) -> None:
    with trio.fail_after(10):
        refused = await client.post("/responses", json={"model": "sim/chat-only", "input": "hi"})
        answered = await client.post("/chat/completions", json=chat("sim/chat-only"))
    assert refused.status_code == 400
    assert "not supported on the Responses API" in refused.json()["error"]["message"]
    assert answered.status_code == 200
    assert answered.json()["choices"][0]["message"]["content"]


async def test_chat_only_model_streams_on_responses_never(client: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        stream = await read_sse(client, {"model": "sim/chat-only", "input": "hi"})
    assert stream.status == 400
    assert stream.events == []
