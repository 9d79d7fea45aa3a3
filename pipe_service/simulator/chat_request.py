"""``POST /chat/completions`` bodies: validation and the Responses-shaped view scenarios read.

The simulator plays the same scenarios on both endpoints, so a chat body is validated the way
OpenRouter's chat route does it (a 400 with ``{"error": {"code": 400, "message", "metadata":
{"raw"}}}``, the integer-coded envelope: the chat route never uses ``invalid_prompt``), then
viewed as a Responses body: ``messages`` → ``input`` items, chat tools → function tools,
``reasoning``/``provider``/``models``/``session_id``/``user``/``cache_control`` kept as they are.
"""

from __future__ import annotations

import json
from typing import Any

from pipe_service.simulator.errors import ErrorReply, zod_issue
from pipe_service.simulator.sse import compact_json

_KEPT = (
    "model",
    "models",
    "stream",
    "reasoning",
    "provider",
    "session_id",
    "user",
    "metadata",
    "cache_control",
    "temperature",
    "top_p",
    "parallel_tool_calls",
    "plugins",
    "trace",
)


def invalid_chat_request(issues: list[dict[str, Any]]) -> ErrorReply:
    return ErrorReply(
        400,
        {
            "error": {
                "code": 400,
                "message": "Invalid request",
                "metadata": {"raw": compact_json(issues)},
            }
        },
    )


def parse_chat_body(raw: bytes) -> dict[str, Any] | ErrorReply:
    """The chat body as a dict, or the 400 the chat route answers."""
    try:
        body = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return invalid_chat_request([zod_issue("custom", [], "Invalid JSON body")])
    if not isinstance(body, dict):
        return invalid_chat_request([zod_issue("invalid_type", [], "Expected object")])
    issues: list[dict[str, Any]] = []
    if not isinstance(body.get("model"), str) and not body.get("models"):
        issues.append(zod_issue("invalid_type", ["model"], "Required", expected="string"))
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        issues.append(zod_issue("invalid_type", ["messages"], "Required", expected="array"))
    elif any(not isinstance(m, dict) or not isinstance(m.get("role"), str) for m in messages):
        issues.append(zod_issue("invalid_type", ["messages"], "Each message needs a role"))
    if "stream" in body and not isinstance(body["stream"], bool | None):
        issues.append(zod_issue("invalid_type", ["stream"], "Expected boolean"))
    return invalid_chat_request(issues) if issues else body


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "input_text", "text": content}]
    parts: list[dict[str, Any]] = []
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text":
            text_part: dict[str, Any] = {"type": "input_text", "text": str(part.get("text", ""))}
            if isinstance(part.get("cache_control"), dict):
                text_part["cache_control"] = part["cache_control"]
            parts.append(text_part)
        elif kind == "image_url":
            parts.append({"type": "input_image", "image_url": part.get("image_url")})
        elif kind == "file":
            file = part.get("file")
            name = file.get("filename") if isinstance(file, dict) else None
            parts.append({"type": "input_file", "filename": name})
    return parts


def _items(message: dict[str, Any]) -> list[dict[str, Any]]:
    role = message.get("role")
    if role == "tool":
        return [
            {
                "type": "function_call_output",
                "call_id": message.get("tool_call_id"),
                "output": message.get("content") if isinstance(message.get("content"), str) else "",
            }
        ]
    items: list[dict[str, Any]] = []
    if role == "assistant":
        for detail in message.get("reasoning_details") or []:
            if isinstance(detail, dict) and detail.get("type") == "reasoning.text":
                items.append(
                    {
                        "type": "reasoning",
                        "summary": [],
                        "content": [{"type": "reasoning_text", "text": detail.get("text", "")}],
                        "signature": detail.get("signature"),
                        "format": detail.get("format"),
                    }
                )
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                items.append(
                    {
                        "type": "function_call",
                        "call_id": call.get("id"),
                        "name": function.get("name"),
                        "arguments": function.get("arguments", ""),
                    }
                )
    content = _parts(message.get("content"))
    if content or role != "assistant":
        items.append({"type": "message", "role": role, "content": content})
    return items


def _tools(tools: Any) -> list[dict[str, Any]]:
    converted: list[dict[str, Any]] = []
    for tool in tools if isinstance(tools, list) else []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            converted.append(
                {
                    "type": "function",
                    "name": function["name"],
                    "parameters": function.get("parameters"),
                }
            )
    return converted


def responses_view(body: dict[str, Any]) -> dict[str, Any]:
    """The Responses-shaped body the scenarios read (never sent anywhere)."""
    view: dict[str, Any] = {key: body[key] for key in _KEPT if key in body}
    view["input"] = [item for message in body["messages"] for item in _items(message)]
    if tools := _tools(body.get("tools")):
        view["tools"] = tools
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        view["tool_choice"] = {"type": "function", "name": name}
    elif choice is not None:
        view["tool_choice"] = choice
    return view
