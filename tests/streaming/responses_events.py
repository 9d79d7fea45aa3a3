"""Builders for Responses stream event sequences shaped like OpenRouter's wire captures.

Each builder returns the list of event dicts of one scenario from
``shared/reference/openrouter-responses.md`` §2-§4; :func:`numbered` adds ``sequence_number``.
"""

from __future__ import annotations

from typing import Any


class _AnyMessage(str):
    """Compares equal to any non-empty string (for human-readable messages)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and bool(other)

    __hash__ = str.__hash__


ANY_MESSAGE = _AnyMessage("<any message>")
RESPONSE_ID = "gen-1787612977-3B6PXHIyVETuFLzBCzwW"
MODEL = "openai/gpt-5.6-sol"
USAGE: dict[str, Any] = {
    "input_tokens": 9175,
    "input_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 9172},
    "output_tokens": 277,
    "output_tokens_details": {"reasoning_tokens": 135},
    "total_tokens": 9452,
    "cost": 0.025706,
    "is_byok": False,
}


def numbered(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**event, "sequence_number": n} for n, event in enumerate(events)]


def response(status: str, output: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": RESPONSE_ID,
        "object": "response",
        "model": MODEL,
        "status": status,
        "output": output,
        "usage": USAGE if status != "in_progress" else None,
        "error": None,
        "incomplete_details": None,
        **extra,
    }


def preamble() -> list[dict[str, Any]]:
    return [
        {"type": "response.created", "response": response("in_progress", [])},
        {"type": "response.in_progress", "response": response("in_progress", [])},
    ]


def message_item(
    text: str, item_id: str = "msg_tmp_x", annotations: list[Any] | None = None
) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": annotations or []}],
    }


def message_events(
    deltas: list[str],
    *,
    output_index: int = 0,
    item_id: str = "msg_tmp_x",
    annotations: list[dict[str, Any]] | None = None,
    stream_annotations: bool = True,
) -> list[dict[str, Any]]:
    where = {"output_index": output_index, "item_id": item_id, "content_index": 0}
    full = "".join(deltas)
    events: list[dict[str, Any]] = [
        {
            "type": "response.output_item.added",
            "output_index": output_index,
            "item": {**message_item("", item_id), "status": "in_progress", "content": []},
        },
        {
            "type": "response.content_part.added",
            **where,
            "part": {"type": "output_text", "text": "", "annotations": []},
        },
    ]
    events += [
        {"type": "response.output_text.delta", **where, "delta": d, "logprobs": []} for d in deltas
    ]
    if stream_annotations:
        events += [
            {
                "type": "response.output_text.annotation.added",
                **where,
                "annotation_index": n,
                "annotation": annotation,
            }
            for n, annotation in enumerate(annotations or [])
        ]
    events += [
        {"type": "response.output_text.done", **where, "text": full, "logprobs": []},
        {
            "type": "response.content_part.done",
            **where,
            "part": {"type": "output_text", "text": full, "annotations": annotations or []},
        },
        {
            "type": "response.output_item.done",
            "output_index": output_index,
            "item": message_item(full, item_id, annotations),
        },
    ]
    return events


def anthropic_reasoning_events(deltas: list[str], item_id: str = "rs_tmp_a") -> list[Any]:
    where = {"output_index": 0, "item_id": item_id, "content_index": 0}
    full = "".join(deltas)
    return [
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"id": item_id, "type": "reasoning", "status": "in_progress", "summary": []},
        },
        {"type": "response.content_part.added", **where, "part": {"type": "reasoning_text"}},
        *({"type": "response.reasoning_text.delta", **where, "delta": d} for d in deltas),
        {"type": "response.reasoning_text.done", **where, "text": full},
        {"type": "response.content_part.done", **where, "part": {"type": "reasoning_text"}},
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": anthropic_reasoning_item(full, item_id),
        },
    ]


def anthropic_reasoning_item(text: str, item_id: str = "rs_tmp_a") -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "reasoning",
        "status": "completed",
        "content": [{"type": "reasoning_text", "text": text}],
        "summary": [],
        "signature": "c2lnbmF0dXJl",
        "format": "anthropic-claude-v1",
    }


ENCRYPTED_ITEM: dict[str, Any] = {
    "id": "rs_0eaec5",
    "type": "reasoning",
    "status": "completed",
    "summary": [],
    "encrypted_content": "gAAAAB.eyJlbmRwb2ludF9zbHVnIjoib3BlbmFpIn0=",
    "format": "openai-responses-v1",
}


def encrypted_reasoning_events() -> list[dict[str, Any]]:
    return [
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {
                "id": "rs_0eaec5",
                "type": "reasoning",
                "status": "in_progress",
                "summary": [],
            },
        },
        {"type": "response.output_item.done", "output_index": 0, "item": ENCRYPTED_ITEM},
    ]


def summary_events(parts: list[list[str]], item_id: str = "rs_sum") -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"id": item_id, "type": "reasoning", "status": "in_progress", "summary": []},
        }
    ]
    for index, deltas in enumerate(parts):
        where = {"output_index": 0, "item_id": item_id, "summary_index": index}
        full = "".join(deltas)
        events += [
            {"type": "response.reasoning_summary_part.added", **where, "part": {"text": ""}},
            *(
                {"type": "response.reasoning_summary_text.delta", **where, "delta": d}
                for d in deltas
            ),
            {"type": "response.reasoning_summary_text.done", **where, "text": full},
            {"type": "response.reasoning_summary_part.done", **where, "part": {"text": full}},
        ]
    summary = [{"type": "summary_text", "text": "".join(deltas)} for deltas in parts]
    item = {"id": item_id, "type": "reasoning", "status": "completed", "summary": summary}
    events.append({"type": "response.output_item.done", "output_index": 0, "item": item})
    return events


def function_call_item(n: int, name: str, arguments: str) -> dict[str, Any]:
    return {
        "id": f"fc_{n}",
        "type": "function_call",
        "status": "completed",
        "call_id": f"call_{n}",
        "name": name,
        "arguments": arguments,
    }


def function_call_events(n: int, name: str, argument_deltas: list[str]) -> list[Any]:
    full = "".join(argument_deltas)
    added = {**function_call_item(n, name, ""), "status": "in_progress"}
    where = {"output_index": n, "item_id": f"fc_{n}"}
    return [
        {"type": "response.output_item.added", "output_index": n, "item": added},
        *(
            {"type": "response.function_call_arguments.delta", **where, "delta": d}
            for d in argument_deltas
        ),
        {"type": "response.function_call_arguments.done", **where, "name": name, "arguments": full},
        {
            "type": "response.output_item.done",
            "output_index": n,
            "item": function_call_item(n, name, full),
        },
    ]


def citation(url: str, title: str, content: str | None = None) -> dict[str, Any]:
    annotation = {
        "type": "url_citation",
        "url": url,
        "title": title,
        "start_index": 0,
        "end_index": 4,
    }
    if content is not None:
        annotation["content"] = content
    return annotation


def web_search_item(item_id: str = "ws_1", query: str = "trio docs") -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "openrouter:web_search",
        "status": "completed",
        "action": {"type": "search", "query": query, "sources": []},
    }
