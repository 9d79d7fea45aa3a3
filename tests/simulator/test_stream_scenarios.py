"""Every sim/* scenario streamed over a real socket, checked event by event."""

from __future__ import annotations

import base64
import json

import httpx
import trio

from tests.simulator.conftest import read_sse, weather_tool

TEXT_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
]


async def test_text_echoes_last_user_input(client: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        stream = await read_sse(client, {"model": "sim/text", "input": "Hello there simulator"})
    deltas = "".join(e["delta"] for e in stream.of_type("response.output_text.delta"))
    assert deltas.startswith("You said: Hello there simulator.")
    assert stream.of_type("response.output_text.done")[0]["text"] == deltas
    assert stream.types[:4] == TEXT_EVENTS
    assert stream.types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]


async def test_text_answer_length_follows_answer_words(client: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        stream = await read_sse(
            client,
            {"model": "sim/text", "input": "hi"},
            headers={"X-Sim-Answer-Words": "5", "X-Sim-Words-Per-Delta": "2"},
        )
    text = stream.of_type("response.output_text.done")[0]["text"]
    assert text == "You said: hi. the simulator streams deterministic words."
    assert len(stream.of_type("response.output_text.delta")) == 4  # 8 words, 2 per delta


async def test_completed_usage_has_cost_from_pricing(client: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        stream = await read_sse(client, {"model": "sim/text", "input": "abcdefgh"})
    usage = stream.terminal["response"]["usage"]
    assert usage["input_tokens"] == 2  # 8 chars / 4
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    expected = usage["input_tokens"] * 0.000001 + usage["output_tokens"] * 0.000004
    assert usage["cost"] == round(expected, 12)
    assert usage["input_tokens_details"] == {"cached_tokens": 0, "cache_write_tokens": 0}
    assert usage["output_tokens_details"] == {"reasoning_tokens": 0}
    assert usage["is_byok"] is False


async def test_free_model_costs_nothing(client: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        stream = await read_sse(client, {"model": "sim/text:free", "input": "hi"})
    assert stream.terminal["response"]["usage"]["cost"] == 0.0


async def test_reasoning_item_precedes_message_with_signature(client: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        stream = await read_sse(client, {"model": "sim/reasoning", "input": "Why is the sky blue?"})
    added = stream.of_type("response.output_item.added")
    assert [(a["output_index"], a["item"]["type"]) for a in added] == [
        (0, "reasoning"),
        (1, "message"),
    ]
    reasoning = "".join(e["delta"] for e in stream.of_type("response.reasoning_text.delta"))
    assert "Why is the sky blue" in reasoning
    assert all("logprobs" not in e for e in stream.of_type("response.reasoning_text.delta"))
    done = stream.of_type("response.output_item.done")[0]["item"]
    assert done["content"] == [{"type": "reasoning_text", "text": reasoning}]
    assert done["format"] == "anthropic-claude-v1"
    assert base64.b64decode(done["signature"])
    usage = stream.terminal["response"]["usage"]
    assert usage["output_tokens_details"]["reasoning_tokens"] > 0


async def test_encrypted_reasoning_has_no_deltas(client: httpx.AsyncClient) -> None:
    body = {"model": "sim/encrypted-reasoning", "input": "hi"}
    with trio.fail_after(10):
        stream = await read_sse(client, body)
    assert stream.types[2:4] == ["response.output_item.added", "response.output_item.done"]
    item = stream.events[3]["item"]
    assert item["format"] == "openai-responses-v1"
    token, suffix = item["encrypted_content"].split(".")
    assert token.startswith("gAAAA")
    assert json.loads(base64.b64decode(suffix)) == {
        "endpoint_slug": "sim/encrypted-reasoning|simulator"
    }
    assert not [t for t in stream.types if "reasoning" in t and t.endswith("delta")]


async def test_encrypted_reasoning_streams_summary_when_asked(client: httpx.AsyncClient) -> None:
    body = {"model": "sim/encrypted-reasoning", "input": "hi", "reasoning": {"summary": "auto"}}
    with trio.fail_after(10):
        stream = await read_sse(client, body)
    summary = "".join(e["delta"] for e in stream.of_type("response.reasoning_summary_text.delta"))
    item = stream.of_type("response.output_item.done")[0]["item"]
    assert item["summary"] == [{"type": "summary_text", "text": summary}]
    assert stream.terminal["response"]["reasoning"] == {"effort": None, "summary": "auto"}


async def test_tool_call_calls_the_request_tool(client: httpx.AsyncClient) -> None:
    body = {"model": "sim/tool-call", "input": "weather?", "tools": [weather_tool()]}
    with trio.fail_after(10):
        stream = await read_sse(client, body)
    assert stream.types[2:] == [
        "response.output_item.added",
        *["response.function_call_arguments.delta"] * 3,  # 25 chars of arguments, 12 per delta
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    args_done = stream.of_type("response.function_call_arguments.done")[0]
    assert args_done["name"] == "get_weather"
    assert json.loads(args_done["arguments"]) == {"city": "Paris", "days": 1}
    item = stream.of_type("response.output_item.done")[0]["item"]
    assert item["id"].startswith("fc_tmp_")
    assert item["call_id"].startswith("call_")
    assert stream.terminal["response"]["output"] == [item]


async def test_tool_call_is_parallel_with_two_tools(client: httpx.AsyncClient) -> None:
    tools = [weather_tool("a"), weather_tool("b"), weather_tool("c")]
    with trio.fail_after(10):
        stream = await read_sse(client, {"model": "sim/tool-call", "input": "x", "tools": tools})
    calls = [e["item"] for e in stream.of_type("response.output_item.done")]
    assert [(c["name"]) for c in calls] == ["a", "b"]
    assert [e["output_index"] for e in stream.of_type("response.output_item.done")] == [0, 1]


async def test_tool_call_is_single_when_parallel_disabled(client: httpx.AsyncClient) -> None:
    body = {
        "model": "sim/tool-call",
        "input": "x",
        "tools": [weather_tool("a"), weather_tool("b")],
        "parallel_tool_calls": False,
    }
    with trio.fail_after(10):
        stream = await read_sse(client, body)
    assert len(stream.of_type("response.output_item.done")) == 1
    assert stream.terminal["response"]["parallel_tool_calls"] is False


async def test_tool_loop_turn_answers_with_tool_output(client: httpx.AsyncClient) -> None:
    body = {
        "model": "sim/tool-call",
        "tools": [weather_tool()],
        "input": [
            {"role": "user", "content": "weather?"},
            {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": "{}",
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny, 21C"},
        ],
    }
    with trio.fail_after(10):
        stream = await read_sse(client, body)
    text = stream.of_type("response.output_text.done")[0]["text"]
    assert text.startswith("Tool results: sunny, 21C.")
    assert not stream.of_type("response.function_call_arguments.done")


async def test_tool_call_model_answers_text_without_tools(client: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        stream = await read_sse(client, {"model": "sim/tool-call", "input": "plain"})
    assert stream.of_type("response.output_text.done")[0]["text"].startswith("You said: plain.")


async def test_web_citations_annotations_everywhere(client: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        stream = await read_sse(client, {"model": "sim/web-citations", "input": "trio news"})
    added = stream.of_type("response.output_text.annotation.added")
    annotations = [e["annotation"] for e in added]
    assert [e["annotation_index"] for e in added] == [0, 1]
    text = stream.of_type("response.output_text.done")[0]["text"]
    for annotation in annotations:
        assert annotation["type"] == "url_citation"
        cited = text[annotation["start_index"] : annotation["end_index"]]
        assert cited.startswith(annotation["title"])
    assert stream.of_type("response.content_part.done")[0]["part"]["annotations"] == annotations
    output = stream.terminal["response"]["output"]
    assert output[0]["type"] == "openrouter:web_search"
    assert output[0]["action"]["query"] == "trio news"
    assert output[1]["content"][0]["annotations"] == annotations
    usage = stream.terminal["response"]["usage"]
    assert usage["server_tool_use_details"] == {"web_search_requests": 1}


async def test_vision_counts_images_and_files(client: httpx.AsyncClient) -> None:
    content = [
        {"type": "input_text", "text": "look"},
        {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "auto"},
        {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "auto"},
        {
            "type": "input_file",
            "filename": "report.pdf",
            "file_data": "data:application/pdf;base64,AA",
        },
    ]
    body = {"model": "sim/vision", "input": [{"role": "user", "content": content}]}
    with trio.fail_after(10):
        stream = await read_sse(client, body)
    text = stream.of_type("response.output_text.done")[0]["text"]
    assert text.startswith("Received 2 image(s) and 1 file(s): report.pdf.")


async def test_fail_mid_stream_ends_with_response_failed(client: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        stream = await read_sse(client, {"model": "sim/fail-mid-stream", "input": "hi"})
    assert len(stream.of_type("response.output_text.delta")) == 3
    failed = stream.terminal
    assert failed["type"] == "response.failed"
    assert failed["response"]["status"] == "failed"
    assert failed["response"]["error"]["code"] == "server_error"
    assert failed["response"]["error_type"] == "server"
    assert stream.done


async def test_disconnect_drops_without_terminal_event(client: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        stream = await read_sse(client, {"model": "sim/disconnect", "input": "hi"})
    assert isinstance(stream.error, httpx.RemoteProtocolError)
    assert stream.types[-1] == "response.output_text.delta"
    assert not stream.done
