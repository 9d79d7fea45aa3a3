"""SSE framing exactly as OpenRouter writes it (reference §2.1/§2.2)."""

from __future__ import annotations

import json
import re

import httpx
import trio

from tests.simulator.conftest import read_sse

ID_PATTERN = re.compile(r"^gen-\d+-[A-Za-z0-9]{20}$")


async def _text_stream(client: httpx.AsyncClient):  # type: ignore[no-untyped-def]
    with trio.fail_after(10):
        return await read_sse(client, {"model": "sim/text", "input": "hi"})


async def test_stream_has_only_data_lines_and_comments(client: httpx.AsyncClient) -> None:
    stream = await _text_stream(client)
    non_blank = [line for line in stream.lines if line]
    assert all(line.startswith(("data: ", ":")) for line in non_blank)
    assert not any(line.startswith("event:") for line in stream.lines)


async def test_keepalive_comment_comes_before_first_event(client: httpx.AsyncClient) -> None:
    stream = await _text_stream(client)
    assert stream.lines[0] == ": OPENROUTER PROCESSING"
    assert stream.lines[2].startswith('data: {"type":"response.created"')


async def test_sequence_numbers_are_contiguous_and_last(client: httpx.AsyncClient) -> None:
    stream = await _text_stream(client)
    assert [e["sequence_number"] for e in stream.events] == list(range(len(stream.events)))
    assert all(list(e)[-1] == "sequence_number" and next(iter(e)) == "type" for e in stream.events)


async def test_delta_key_order_matches_wire(client: httpx.AsyncClient) -> None:
    stream = await _text_stream(client)
    delta = stream.of_type("response.output_text.delta")[0]
    assert list(delta) == [
        "type",
        "output_index",
        "item_id",
        "content_index",
        "delta",
        "logprobs",
        "sequence_number",
    ]


async def test_json_is_compact(client: httpx.AsyncClient) -> None:
    stream = await _text_stream(client)
    first = stream.lines[2].removeprefix("data: ")
    assert first == json.dumps(json.loads(first), separators=(",", ":"), ensure_ascii=False)


async def test_stream_ends_with_done_sentinel(client: httpx.AsyncClient) -> None:
    stream = await _text_stream(client)
    assert [line for line in stream.lines if line][-1] == "data: [DONE]"
    assert stream.terminal["type"] == "response.completed"


async def test_ids_and_generation_header_match(client: httpx.AsyncClient) -> None:
    stream = await _text_stream(client)
    response_id = stream.events[0]["response"]["id"]
    assert ID_PATTERN.match(response_id)
    assert stream.headers["x-generation-id"] == response_id
    assert re.match(r"^msg_tmp_[a-z0-9]{9}$", stream.events[2]["item"]["id"])
    assert stream.headers["content-type"] == "text/event-stream"


async def test_created_echoes_request_with_null_usage(client: httpx.AsyncClient) -> None:
    body = {"model": "sim/text", "input": "hi", "instructions": "be brief", "temperature": 0.3}
    with trio.fail_after(10):
        stream = await read_sse(client, body)
    created = stream.events[0]["response"]
    assert created["status"] == "in_progress"
    assert created["usage"] is None
    assert created["output"] == []
    assert created["instructions"] == "be brief"
    assert created["temperature"] == 0.3
    assert stream.events[1]["response"] == created
    completed = stream.terminal["response"]
    assert completed["status"] == "completed"
    assert completed["completed_at"] is not None


async def test_non_stream_returns_the_completed_response(client: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        reply = await client.post("/responses", json={"model": "sim/text", "input": "hi"})
    body = reply.json()
    assert reply.status_code == 200
    assert body["object"] == "response"
    assert body["status"] == "completed"
    assert body["output"][0]["content"][0]["text"].startswith("You said: hi.")
    assert reply.headers["x-generation-id"] == body["id"]
    assert body["usage"]["cost"] > 0
