"""A scripted answer rendered as OpenRouter's chat-completions wire format.

The scenario engine writes Responses events (:mod:`turn`); this module re-renders the same
answer for ``/chat/completions``, step for step, so pacing, keep-alives, stalls and drops are
identical on both endpoints:

* stream: ``chat.completion.chunk`` objects, ``delta.role`` on the first, text in
  ``delta.content``, reasoning in ``delta.reasoning`` plus ``delta.reasoning_details``
  (``reasoning.text`` with ``signature``/``format``, ``reasoning.encrypted``,
  ``reasoning.summary``), tool calls in ``delta.tool_calls[index]`` (id and name first, then
  argument pieces), citations in ``delta.annotations``, then a chunk with ``finish_reason`` and
  a last chunk with empty ``choices`` and the ``usage`` object; a failure is a chunk with a
  top-level ``error`` and ``finish_reason: "error"`` (reference §4.2); ``data: [DONE]`` ends it;
* non-stream: one ``chat.completion`` object.
"""

from __future__ import annotations

from typing import Any

from pipe_service.simulator.script import Emit, Step
from pipe_service.simulator.turn import Turn


def chat_usage(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """The Responses usage object in chat-completions names."""
    if usage is None:
        return None
    details = usage.get("input_tokens_details") or {}
    output_details = usage.get("output_tokens_details") or {}
    chat: dict[str, Any] = {
        "prompt_tokens": usage["input_tokens"],
        "completion_tokens": usage["output_tokens"],
        "total_tokens": usage["total_tokens"],
        "cost": usage.get("cost"),
        "is_byok": usage.get("is_byok", False),
        "prompt_tokens_details": {
            "cached_tokens": details.get("cached_tokens", 0),
            "cache_write_tokens": details.get("cache_write_tokens", 0),
        },
        "cost_details": usage.get("cost_details"),
        "completion_tokens_details": {
            "reasoning_tokens": output_details.get("reasoning_tokens", 0)
        },
    }
    if "server_tool_use_details" in usage:
        chat["server_tool_use"] = usage["server_tool_use_details"]
    return chat


class _ChunkWriter:
    def __init__(self, turn: Turn, model: str, provider_name: str) -> None:
        self._base = {
            "id": turn.generation_id,
            "provider": provider_name,
            "model": model,
            "object": "chat.completion.chunk",
            "created": turn.created_at,
        }
        self._role_sent = False
        self._tool_indexes: dict[str, int] = {}

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        if not self._role_sent:
            delta = {"role": "assistant", **delta}
            self._role_sent = True
        choice = {
            "index": 0,
            "delta": delta,
            "finish_reason": finish_reason,
            "native_finish_reason": finish_reason,
            "logprobs": None,
        }
        return {**self._base, "choices": [choice]}

    def events(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        kind = event["type"]
        if kind == "response.output_text.delta":
            return [self.chunk({"content": event["delta"]})]
        if kind == "response.reasoning_text.delta":
            detail = {"type": "reasoning.text", "text": event["delta"], "index": 0}
            return [self.chunk({"reasoning": event["delta"], "reasoning_details": [detail]})]
        if kind == "response.reasoning_summary_text.delta":
            detail = {"type": "reasoning.summary", "summary": event["delta"], "index": 0}
            return [self.chunk({"reasoning": event["delta"], "reasoning_details": [detail]})]
        if kind == "response.output_item.added" and event["item"]["type"] == "function_call":
            item = event["item"]
            index = self._tool_indexes.setdefault(item["id"], len(self._tool_indexes))
            call = {
                "index": index,
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": ""},
            }
            return [self.chunk({"tool_calls": [call]})]
        if kind == "response.function_call_arguments.delta":
            index = self._tool_indexes[event["item_id"]]
            call = {"index": index, "function": {"arguments": event["delta"]}}
            return [self.chunk({"tool_calls": [call]})]
        if kind == "response.output_text.annotation.added":
            return [self.chunk({"annotations": [_chat_annotation(event["annotation"])]})]
        if kind == "response.output_item.done" and event["item"]["type"] == "reasoning":
            return self._reasoning_done(event["item"])
        if kind == "response.completed":
            return self._completed(event["response"])
        if kind == "response.failed":
            error = event["response"].get("error") or {}
            failed = self.chunk({"content": ""}, "error")
            failed["error"] = {"code": 502, "message": error.get("message", "Provider error")}
            return [failed]
        return []

    def _reasoning_done(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        if item.get("encrypted_content"):
            detail = {
                "type": "reasoning.encrypted",
                "data": item["encrypted_content"],
                "format": item.get("format"),
                "index": 0,
            }
        elif item.get("signature"):
            detail = {
                "type": "reasoning.text",
                "text": "",
                "signature": item["signature"],
                "format": item.get("format"),
                "index": 0,
            }
        else:
            return []
        return [self.chunk({"reasoning_details": [detail]})]

    def _completed(self, response: dict[str, Any]) -> list[dict[str, Any]]:
        finish = "tool_calls" if self._tool_indexes else "stop"
        usage_chunk = {**self._base, "choices": [], "usage": chat_usage(response.get("usage"))}
        return [self.chunk({"content": ""}, finish), usage_chunk]


def _chat_annotation(annotation: dict[str, Any]) -> dict[str, Any]:
    body = {key: value for key, value in annotation.items() if key != "type"}
    return {"type": "url_citation", "url_citation": body}


def chat_stream_steps(turn: Turn, *, model: str, provider_name: str) -> list[Step]:
    """The turn's steps with every Responses event replaced by its chat chunks."""
    writer = _ChunkWriter(turn, model, provider_name)
    steps: list[Step] = []
    for step in turn.steps:
        if isinstance(step, Emit):
            steps.extend(Emit(chunk) for chunk in writer.events(step.event))
        else:
            steps.append(step)
    return steps


def chat_completion(turn: Turn, *, model: str, provider_name: str) -> dict[str, Any]:
    """The non-stream ``chat.completion`` body of a completed turn."""
    response = turn.final_response or {}
    text: list[str] = []
    reasoning: list[str] = []
    details: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for item in response.get("output", []):
        if item["type"] == "message":
            for part in item["content"]:
                text.append(part.get("text", ""))
                annotations += [_chat_annotation(a) for a in part.get("annotations", [])]
        elif item["type"] == "reasoning":
            for part in item.get("content") or []:
                reasoning.append(part.get("text", ""))
                details.append(
                    {
                        "type": "reasoning.text",
                        "text": part.get("text", ""),
                        "signature": item.get("signature"),
                        "format": item.get("format"),
                        "index": 0,
                    }
                )
            if item.get("encrypted_content"):
                details.append(
                    {
                        "type": "reasoning.encrypted",
                        "data": item["encrypted_content"],
                        "format": item.get("format"),
                        "index": 0,
                    }
                )
        elif item["type"] == "function_call":
            calls.append(
                {
                    "id": item["call_id"],
                    "type": "function",
                    "function": {"name": item["name"], "arguments": item["arguments"]},
                    "index": len(calls),
                }
            )
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(text),
        "refusal": None,
        "reasoning": "".join(reasoning) or None,
    }
    if details:
        message["reasoning_details"] = details
    if calls:
        message["tool_calls"] = calls
    if annotations:
        message["annotations"] = annotations
    finish = "tool_calls" if calls else "stop"
    return {
        "id": turn.generation_id,
        "provider": provider_name,
        "model": model,
        "object": "chat.completion",
        "created": turn.created_at,
        "choices": [
            {
                "logprobs": None,
                "finish_reason": finish,
                "native_finish_reason": finish,
                "index": 0,
                "message": message,
            }
        ],
        "usage": chat_usage(turn.usage),
    }
