"""A Responses request payload rewritten as an OpenRouter ``/chat/completions`` body.

The transform always builds the Responses payload (one set of rules); a model routed to the
chat endpoint gets this rewrite of it, so nothing upstream of the HTTP call knows which
endpoint answers. The rules, field by field:

* ``instructions`` → a leading ``system`` message; ``input`` items → ``messages``: user/system/
  developer messages keep their role, their parts become chat parts (``input_text`` → ``text``,
  ``input_image`` → ``image_url``, ``input_file`` → ``file``, ``input_audio`` → ``input_audio``,
  ``input_video`` → ``video_url``);
  assistant messages become assistant text; ``reasoning`` items ride on the next assistant
  message as ``reasoning_details`` (signed text or encrypted data, so a provider can verify
  them); ``function_call`` items become that assistant message's ``tool_calls``;
  ``function_call_output`` items become ``tool`` messages;
* function tools → ``{"type": "function", "function": {...}}``; OpenRouter server tools
  (``openrouter:*``) pass as they are; ``tool_choice`` ``{type, name}`` →
  ``{type, function: {name}}``;
* ``text.format`` → ``response_format`` (``json_schema`` nested under ``json_schema``),
  ``text.verbosity`` → ``verbosity``; ``max_output_tokens`` → ``max_tokens``;
  ``reasoning`` keeps ``effort``/``max_tokens``/``enabled`` (``summary`` has no chat
  equivalent);
* a top-level ``cache_control`` becomes per-block breakpoints (Anthropic allows four): the last
  text part of the system message and of the last :data:`CACHED_USER_MESSAGES` user messages;
* ``store`` and ``include`` are dropped; routing and identity fields (``models``,
  ``provider``, ``plugins``, ``session_id``, ``user``, ``metadata``, ``trace``) and sampling
  fields pass unchanged.

Synopsis::

    body = responses_payload_to_chat(payload)   # pure; the input is not modified
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

__all__ = ["CACHED_USER_MESSAGES", "responses_payload_to_chat"]

CACHED_USER_MESSAGES: Final = 2
"""User messages given a cache breakpoint (plus the system prompt: 3 of Anthropic's 4)."""

_PASSED: Final = (
    "model",
    "models",
    "provider",
    "plugins",
    "session_id",
    "user",
    "metadata",
    "trace",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "presence_penalty",
    "frequency_penalty",
    "parallel_tool_calls",
)
_REASONING_KEYS: Final = ("effort", "max_tokens", "enabled", "exclude")


def responses_payload_to_chat(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The chat-completions body for ``payload`` (see the module docstring for the rules)."""
    body: dict[str, Any] = {key: payload[key] for key in _PASSED if key in payload}
    messages: list[dict[str, Any]] = []
    instructions = payload.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    messages += _messages(payload.get("input"))
    cache_control = payload.get("cache_control")
    if isinstance(cache_control, Mapping):
        _add_cache_breakpoints(messages, dict(cache_control))
    body["messages"] = messages
    tools = [_tool(tool) for tool in payload.get("tools") or [] if isinstance(tool, Mapping)]
    if tools:
        body["tools"] = tools
    if "tool_choice" in payload:
        body["tool_choice"] = _tool_choice(payload["tool_choice"])
    text = payload.get("text")
    if isinstance(text, Mapping):
        if isinstance(text.get("format"), Mapping):
            body["response_format"] = _response_format(text["format"])
        if "verbosity" in text:
            body["verbosity"] = text["verbosity"]
    if "max_output_tokens" in payload:
        body["max_tokens"] = payload["max_output_tokens"]
    reasoning = payload.get("reasoning")
    if isinstance(reasoning, Mapping):
        kept = {key: reasoning[key] for key in _REASONING_KEYS if key in reasoning}
        if kept:
            body["reasoning"] = kept
    return body


# -- messages ---------------------------------------------------------------------------------


def _messages(raw_input: Any) -> list[dict[str, Any]]:
    if isinstance(raw_input, str):
        return [{"role": "user", "content": raw_input}]
    messages: list[dict[str, Any]] = []
    pending_reasoning: list[dict[str, Any]] = []
    for item in raw_input if isinstance(raw_input, list) else []:
        if not isinstance(item, Mapping):
            continue
        kind = item.get("type", "message")
        if kind == "reasoning":
            pending_reasoning += _reasoning_details(item)
        elif kind == "function_call":
            assistant = _open_assistant(messages, pending_reasoning)
            assistant.setdefault("tool_calls", []).append(
                {
                    "id": item.get("call_id"),
                    "type": "function",
                    "function": {"name": item.get("name"), "arguments": item.get("arguments")},
                }
            )
        elif kind == "function_call_output":
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": item.get("call_id"),
                    "content": _output_text(item.get("output")),
                }
            )
        elif kind == "message" and item.get("role") == "assistant":
            assistant = {"role": "assistant", "content": _assistant_text(item.get("content"))}
            _attach_reasoning(assistant, pending_reasoning)
            messages.append(assistant)
        elif kind == "message":
            messages.append({"role": item.get("role"), "content": _parts(item.get("content"))})
    return messages


def _open_assistant(
    messages: list[dict[str, Any]], pending_reasoning: list[dict[str, Any]]
) -> dict[str, Any]:
    """The assistant message tool calls join: the previous one, unless something came after."""
    if messages and messages[-1]["role"] == "assistant" and not pending_reasoning:
        return messages[-1]
    assistant: dict[str, Any] = {"role": "assistant", "content": None}
    _attach_reasoning(assistant, pending_reasoning)
    messages.append(assistant)
    return assistant


def _attach_reasoning(assistant: dict[str, Any], pending: list[dict[str, Any]]) -> None:
    if pending:
        assistant["reasoning_details"] = list(pending)
        pending.clear()


def _reasoning_details(item: Mapping[str, Any]) -> list[dict[str, Any]]:
    details: list[dict[str, Any]] = []
    reasoning_format = item.get("format")
    encrypted = item.get("encrypted_content")
    if isinstance(encrypted, str) and encrypted:
        details.append(
            {"type": "reasoning.encrypted", "data": encrypted, "format": reasoning_format}
        )
    texts = [
        str(part.get("text", ""))
        for part in item.get("content") or []
        if isinstance(part, Mapping) and part.get("type") == "reasoning_text"
    ]
    if texts or item.get("signature"):
        detail: dict[str, Any] = {"type": "reasoning.text", "text": "".join(texts)}
        if item.get("signature"):
            detail["signature"] = item["signature"]
        detail["format"] = reasoning_format
        details.append(detail)
    for part in item.get("summary") or []:
        if isinstance(part, Mapping) and part.get("type") == "summary_text" and not texts:
            summary = part.get("text", "")
            details.append(
                {"type": "reasoning.summary", "summary": summary, "format": reasoning_format}
            )
    for index, detail in enumerate(details):
        detail["index"] = index
    return details


def _assistant_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(
        str(part.get("text", part.get("refusal", "")))
        for part in (content if isinstance(content, list) else [])
        if isinstance(part, Mapping)
    )


def _output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    return "\n".join(
        str(part.get("text", ""))
        for part in (output if isinstance(output, list) else [])
        if isinstance(part, Mapping) and "text" in part
    )


def _parts(content: Any) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, Mapping):
            continue
        kind = part.get("type")
        if kind in ("input_text", "output_text"):
            parts.append({"type": "text", "text": part.get("text", "")})
        elif kind == "input_image":
            image: dict[str, Any] = {"url": part.get("image_url")}
            if part.get("detail"):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        elif kind == "input_file":
            file = {key: part[key] for key in ("filename", "file_data", "file_id") if part.get(key)}
            if part.get("file_url") and "file_data" not in file:
                file["file_data"] = part["file_url"]
            parts.append({"type": "file", "file": file})
        elif kind == "input_audio":
            parts.append({"type": "input_audio", "input_audio": part.get("input_audio")})
        elif kind == "input_video":
            parts.append({"type": "video_url", "video_url": {"url": part.get("video_url")}})
    return parts


def _add_cache_breakpoints(messages: list[dict[str, Any]], cache_control: dict[str, Any]) -> None:
    targets = [m for m in messages if m["role"] == "system"][:1]
    targets += [m for m in messages if m["role"] == "user"][-CACHED_USER_MESSAGES:]
    for message in targets:
        content = message["content"]
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        text_parts = [part for part in content if part.get("type") == "text"]
        if text_parts:
            text_parts[-1]["cache_control"] = dict(cache_control)
            message["content"] = content


# -- tools and formats ------------------------------------------------------------------------


def _tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    if tool.get("type") != "function":
        return dict(tool)
    function = {
        key: tool[key] for key in ("name", "description", "parameters", "strict") if key in tool
    }
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, Mapping) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return choice


def _response_format(text_format: Mapping[str, Any]) -> dict[str, Any]:
    if text_format.get("type") != "json_schema":
        return dict(text_format)
    schema = {
        key: text_format[key]
        for key in ("name", "schema", "strict", "description")
        if key in text_format
    }
    return {"type": "json_schema", "json_schema": schema}
