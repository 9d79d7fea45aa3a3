"""Render turn events as OpenAI chat-completions chunks and completions.

Used by the shim relay (Open WebUI accepts these chunk dicts from a pipe) and by the
OpenAI-compatible API. Only the answer-carrying events have a chunk form: text, reasoning
(``delta.reasoning_content``, which Open WebUI shows in its reasoning box), tool calls and the
final finish/usage. Status lines, citations and reasoning items travel as Open WebUI events
(``chat.owui_events``); failures are rendered by the caller, which knows the error format its
client expects.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from pipe_service.chat.events import (
    Completed,
    Failed,
    GeneratedImage,
    ReasoningDelta,
    TextDelta,
    ToolCallRequest,
    TurnEvent,
)
from pipe_service.openrouter.usage import Usage

# finish_reason of a turn that failed after partial output (OpenRouter's chat-completions
# convention for mid-stream errors).
FAILED_FINISH_REASON: Final = "error"


def to_chat_chunks(
    event: TurnEvent, *, completion_id: str, model: str, created: int, include_usage: bool = True
) -> list[dict[str, Any]]:
    """The chunks for one event, as OpenAI streams them.

    ``Completed`` gives a finish-reason chunk and then, with ``include_usage``, a usage chunk
    with empty ``choices`` (OpenAI's ``stream_options.include_usage`` shape). Other events give
    at most one chunk.
    """
    if isinstance(event, Completed):
        chunks = [_chunk(completion_id, model, created, {}, event.finish_reason)]
        if include_usage and event.usage is not None:
            usage_chunk = _chunk(completion_id, model, created, None, None)
            usage_chunk["usage"] = usage_dict(event.usage)
            chunks.append(usage_chunk)
        return chunks
    chunk = to_chat_chunk(event, completion_id=completion_id, model=model, created=created)
    return [] if chunk is None else [chunk]


def to_chat_chunk(
    event: TurnEvent, *, completion_id: str, model: str, created: int
) -> dict[str, Any] | None:
    """One ``chat.completion.chunk`` dict for ``event``, or ``None`` if it has no chunk form.

    ``Completed`` gives a single chunk carrying both ``finish_reason`` and ``usage`` (what Open
    WebUI reads); use :func:`to_chat_chunks` for OpenAI's separate usage chunk.
    """
    if isinstance(event, TextDelta):
        return _chunk(completion_id, model, created, {"content": event.text}, None)
    if isinstance(event, ReasoningDelta):
        return _chunk(completion_id, model, created, {"reasoning_content": event.text}, None)
    if isinstance(event, ToolCallRequest):
        delta = {"tool_calls": [{"index": event.index, **_tool_call(event)}]}
        return _chunk(completion_id, model, created, delta, None)
    if isinstance(event, GeneratedImage):
        delta = {"images": [_image(event)]}
        return _chunk(completion_id, model, created, delta, None)
    if isinstance(event, Completed):
        chunk = _chunk(completion_id, model, created, {}, event.finish_reason)
        if event.usage is not None:
            chunk["usage"] = usage_dict(event.usage)
        return chunk
    return None


def to_chat_completion(
    events: Iterable[TurnEvent], *, completion_id: str, model: str, created: int
) -> dict[str, Any]:
    """A non-stream ``chat.completion`` from a whole turn's events.

    A turn that failed (a ``Failed`` event, no ``Completed``) renders its partial output with
    ``finish_reason`` :data:`FAILED_FINISH_REASON`; the caller decides whether to answer with
    an error instead, or to append a notice.
    """
    text: list[str] = []
    reasoning: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []
    completed: Completed | None = None
    failed = False
    for event in events:
        if isinstance(event, TextDelta):
            text.append(event.text)
        elif isinstance(event, ReasoningDelta):
            reasoning.append(event.text)
        elif isinstance(event, ToolCallRequest):
            tool_calls.append(_tool_call(event))
        elif isinstance(event, GeneratedImage):
            images.append(_image(event))
        elif isinstance(event, Completed):
            completed = event
        elif isinstance(event, Failed):
            failed = True
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text)}
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if tool_calls:
        message["tool_calls"] = tool_calls
    if images:
        message["images"] = images
    completion: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": _completion_finish_reason(completed, failed),
            }
        ],
    }
    if completed is not None and completed.usage is not None:
        completion["usage"] = usage_dict(completed.usage)
    return completion


def _image(event: GeneratedImage) -> dict[str, Any]:
    # OpenRouter's chat-completions shape for generated images (``message.images[]``).
    return {"type": "image_url", "image_url": {"url": event.data_url}}


def usage_dict(usage: Usage) -> dict[str, Any]:
    """OpenAI chat-completions ``usage``, plus OpenRouter's ``cost`` when known."""
    rendered: dict[str, Any] = {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }
    if usage.cost is not None:
        rendered["cost"] = usage.cost
    return rendered


def _completion_finish_reason(completed: Completed | None, failed: bool) -> str:
    if completed is not None:
        return completed.finish_reason
    return FAILED_FINISH_REASON if failed else "stop"


def _tool_call(event: ToolCallRequest) -> dict[str, Any]:
    return {
        "id": event.call_id,
        "type": "function",
        "function": {"name": event.name, "arguments": event.arguments_json},
    }


def _chunk(
    completion_id: str,
    model: str,
    created: int,
    delta: dict[str, Any] | None,
    finish_reason: str | None,
) -> dict[str, Any]:
    choices = (
        []
        if delta is None
        else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
    )
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": choices,
    }
