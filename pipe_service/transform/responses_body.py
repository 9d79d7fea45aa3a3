"""An OpenAI Responses request body → the chat body every turn starts from.

``POST /v1/responses`` runs the same turn as ``POST /v1/chat/completions`` (the same transform,
tools, admission, persistence and usage), so its body is first rewritten into the chat shape the
transform reads. The rewrite is structural only; the transform then validates every value and
builds the upstream Responses request exactly as for a chat client.

Rules (see docs/openai-api.md):

* ``instructions`` becomes a leading ``system`` message; a string ``input`` one ``user`` message;
* each ``input`` item becomes one chat message (the transform's error paths are mapped back to
  ``input[i]`` with :meth:`ChatBody.input_field`): ``message`` items keep
  their role and content (the transform reads Responses content parts natively),
  ``function_call`` becomes an assistant message with one tool call, ``function_call_output`` a
  ``tool`` message; ``reasoning`` items are skipped (the sidecar keeps reasoning itself);
* flat function ``tools`` and ``tool_choice`` take the chat nesting; ``max_output_tokens``,
  ``reasoning.effort``, ``text.format`` and ``text.verbosity`` map to their chat names;
* features of a stateful server (``previous_response_id``, ``conversation``, ``background``)
  are refused with a 400 naming the field: the sidecar and OpenRouter are stateless.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipe_service.transform.errors import RequestTransformError, field_path

__all__ = ["ChatBody", "chat_body_from_responses"]

_PASSED_THROUGH = ("model", "stream", "temperature", "top_p", "parallel_tool_calls", "top_k")
_STATEFUL = ("previous_response_id", "conversation", "background", "prompt")
_MESSAGE_ROLES = frozenset({"user", "assistant", "system", "developer"})
_MESSAGES_PATH = re.compile(r"^messages\[(\d+)\]")


@dataclass(frozen=True, slots=True)
class ChatBody:
    """The chat body, and for each of its messages the input item it came from (None: the
    ``instructions``), to name fields in errors."""

    body: dict[str, Any]
    sources: tuple[int | None, ...]

    def input_field(self, field: str) -> str:
        """The request path for a chat-body path: ``messages[3].content`` → ``input[2]...``."""
        match = _MESSAGES_PATH.match(field)
        if match is None:
            return field
        index = int(match.group(1))
        source = self.sources[index] if index < len(self.sources) else None
        if source is None:
            return "instructions"
        return f"input[{source}]{field[match.end() :]}"


def chat_body_from_responses(body: Mapping[str, Any]) -> ChatBody:
    """Rewrite a Responses request body; raises :class:`RequestTransformError` naming the field."""
    for key in _STATEFUL:
        if body.get(key) not in (None, False):
            raise RequestTransformError(
                key, "is not supported: this API is stateless; send the whole conversation"
            )
    chat: dict[str, Any] = {key: body[key] for key in _PASSED_THROUGH if key in body}
    messages: list[dict[str, Any]] = []
    sources: list[int | None] = []
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise RequestTransformError("instructions", "must be a string")
        messages.append({"role": "system", "content": instructions})
        sources.append(None)
    for source, message in _messages(body.get("input")):
        messages.append(message)
        sources.append(source)
    chat["messages"] = messages
    if "tools" in body:
        chat["tools"] = _tools(body["tools"])
    if "tool_choice" in body:
        chat["tool_choice"] = _tool_choice(body["tool_choice"])
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    chat.update(_reasoning(body.get("reasoning")))
    chat.update(_text(body.get("text")))
    return ChatBody(body=chat, sources=tuple(sources))


def _messages(raw: object) -> list[tuple[int, dict[str, Any]]]:
    """``(input index, chat message)`` for each item that becomes a message."""
    if isinstance(raw, str):
        return [(0, {"role": "user", "content": raw})]
    if not isinstance(raw, list) or not raw:
        raise RequestTransformError("input", "must be a string or a non-empty list of items")
    messages: list[tuple[int, dict[str, Any]]] = []
    for index, item in enumerate(raw):
        message = _message(item, field_path("input", index))
        if message is not None:
            messages.append((index, message))
    return messages


def _message(item: object, path: str) -> dict[str, Any] | None:
    if not isinstance(item, Mapping):
        raise RequestTransformError(path, "must be an input item object")
    item_type = item.get("type", "message")
    if item_type == "message":
        role = item.get("role")
        if not isinstance(role, str) or role not in _MESSAGE_ROLES:
            raise RequestTransformError(
                field_path(path, "role"), f"must be user, assistant, system or developer: {role!r}"
            )
        return {"role": role, "content": item.get("content")}
    if item_type == "function_call":
        call = {
            "id": _required_str(item, "call_id", path),
            "type": "function",
            "function": {
                "name": _required_str(item, "name", path),
                "arguments": item.get("arguments"),
            },
        }
        return {"role": "assistant", "content": None, "tool_calls": [call]}
    if item_type == "function_call_output":
        output = item.get("output")
        if not isinstance(output, str | list):
            raise RequestTransformError(field_path(path, "output"), "must be a string")
        return {
            "role": "tool",
            "tool_call_id": _required_str(item, "call_id", path),
            "content": output,
        }
    if item_type == "reasoning":
        return None
    raise RequestTransformError(
        field_path(path, "type"),
        f"must be message, function_call, function_call_output or reasoning, got {item_type!r}",
    )


def _tools(raw: object) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise RequestTransformError("tools", "must be a list of tool objects")
    tools: list[dict[str, Any]] = []
    for index, tool in enumerate(raw):
        path = field_path("tools", index)
        if not isinstance(tool, Mapping) or tool.get("type") != "function":
            raise RequestTransformError(
                field_path(path, "type"),
                "only function tools are supported (web search is the sidecar's own setting)",
            )
        function = {
            key: tool[key] for key in ("name", "description", "parameters", "strict") if key in tool
        }
        tools.append({"type": "function", "function": function})
    return tools


def _tool_choice(raw: object) -> object:
    if isinstance(raw, Mapping) and raw.get("type") == "function":
        return {"type": "function", "function": {"name": raw.get("name")}}
    return raw


def _reasoning(raw: object) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise RequestTransformError("reasoning", 'must be an object like {"effort": "low"}')
    effort = raw.get("effort")
    return {} if effort is None else {"reasoning_effort": effort}


def _text(raw: object) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise RequestTransformError("text", "must be an object with 'format' and/or 'verbosity'")
    chat: dict[str, Any] = {}
    if raw.get("verbosity") is not None:
        chat["verbosity"] = raw["verbosity"]
    text_format = raw.get("format")
    if text_format is None:
        return chat
    if not isinstance(text_format, Mapping):
        raise RequestTransformError("text.format", "must be an object with a 'type'")
    if text_format.get("type") == "json_schema":
        schema = {
            key: text_format[key]
            for key in ("name", "schema", "strict", "description")
            if key in text_format
        }
        chat["response_format"] = {"type": "json_schema", "json_schema": schema}
    else:
        chat["response_format"] = dict(text_format)
    return chat


def _required_str(item: Mapping[str, Any], key: str, path: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise RequestTransformError(field_path(path, key), "must be a non-empty string")
    return value
