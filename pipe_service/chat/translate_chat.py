"""Translate OpenRouter chat-completions chunks into the same turn events as ``chat.translate``.

A model routed to ``/chat/completions`` must look, to everything downstream (coalescing, the
tool loop, both renderers, usage lines, reasoning replay), exactly like one answered on
``/responses``. :class:`ChatCompletionsStreamTranslator` has the Responses translator's
interface (``feed`` one parsed chunk, ``finish`` at the end, ``finished``) and these rules:

* ``delta.content`` → ``TextDelta``; ``delta.reasoning`` → ``ReasoningDelta`` (when a chunk
  carries only ``reasoning_details``, their ``reasoning.text``/``reasoning.summary`` text is
  used instead, never both);
* ``delta.annotations`` / ``message.annotations`` ``url_citation`` entries → ``Citation``;
* ``delta.tool_calls`` pieces are assembled by ``index``; at the end each becomes a
  ``ToolCallRequest``;
* the ``reasoning_details`` of the answer become one Responses ``reasoning`` item
  (``ReasoningItem``: signed text or encrypted content), so replay works on either endpoint;
* ``usage`` → ``Usage`` (chat names mapped to the Responses ones); ``finish_reason`` then the
  end of the stream → ``Completed`` whose ``output_items`` are Responses-shaped (reasoning,
  message, function calls), which the tool loop appends to the next request;
* a chunk with a top-level ``error`` (``finish_reason: "error"``) → ``Failed``; a stream that
  ends without a ``finish_reason`` → ``Failed`` with ``stream_ended_without_completion``.

Synopsis::

    translator = ChatCompletionsStreamTranslator()
    for chunk in chunks:
        events += translator.feed(chunk)
    events += translator.finish()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from pipe_service.chat.citations import CitationRegistry
from pipe_service.chat.events import (
    Completed,
    Failed,
    FinishReason,
    ReasoningDelta,
    ReasoningItem,
    TextDelta,
    ToolCallRequest,
    TurnEvent,
)
from pipe_service.chat.failure import STREAM_ENDED_WITHOUT_COMPLETION
from pipe_service.chat.json_fields import as_dict, as_list, as_optional_str, as_str
from pipe_service.chat.responses_usage import usage_from_responses
from pipe_service.chat.surrogates import SurrogateCarry
from pipe_service.chat.translate import UPSTREAM_ERROR
from pipe_service.openrouter.usage import Usage

__all__ = ["ChatCompletionsStreamTranslator", "translate_chat_completion", "usage_from_chat"]

_FINISH: Final[dict[str, FinishReason]] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
}


def usage_from_chat(raw: Any) -> Usage | None:
    """The :class:`Usage` of a chat-completions ``usage`` object (``None`` when absent)."""
    if not isinstance(raw, dict):
        return None
    prompt = as_dict(raw.get("prompt_tokens_details"))
    completion = as_dict(raw.get("completion_tokens_details"))
    return usage_from_responses(
        {
            "input_tokens": raw.get("prompt_tokens"),
            "output_tokens": raw.get("completion_tokens"),
            "input_tokens_details": prompt,
            "output_tokens_details": completion,
            "cost": raw.get("cost"),
            "is_byok": raw.get("is_byok"),
            "server_tool_use": as_dict(raw.get("server_tool_use")),
        }
    )


@dataclass
class _ToolCall:
    call_id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ChatCompletionsStreamTranslator:
    """Turn chat-completions chunks into :data:`TurnEvent` values (one instance per request)."""

    def __init__(self) -> None:
        self._citations = CitationRegistry()
        self._text_carry = SurrogateCarry()
        self._reasoning_carry = SurrogateCarry()
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._details: list[dict[str, Any]] = []
        self._tool_calls: dict[int, _ToolCall] = {}
        self._response_id: str | None = None
        self._model: str | None = None
        self._finish: str | None = None
        self._usage: Usage | None = None
        self._terminal = False

    @property
    def finished(self) -> bool:
        """True once an error chunk was handled (the stream is over for the turn)."""
        return self._terminal

    def feed(self, chunk: dict[str, Any]) -> list[TurnEvent]:
        """Handle one parsed chunk; return the turn events it produces, in order."""
        if self._terminal:
            return []
        self._response_id = as_optional_str(chunk.get("id")) or self._response_id
        self._model = as_optional_str(chunk.get("model")) or self._model
        if isinstance(chunk.get("usage"), dict):
            self._usage = usage_from_chat(chunk["usage"])
        if isinstance(chunk.get("error"), dict):
            return self._failed(as_dict(chunk["error"]))
        events: list[TurnEvent] = []
        for choice in as_list(chunk.get("choices")):
            choice = as_dict(choice)
            delta = as_dict(choice.get("delta")) or as_dict(choice.get("message"))
            events += self._delta(delta)
            finish = choice.get("finish_reason")
            if isinstance(finish, str) and finish:
                if finish == "error":
                    return [*events, *self._failed({"message": "The provider failed."})]
                self._finish = finish
        return events

    def finish(self) -> list[TurnEvent]:
        """End of stream: the tool calls, reasoning item, usage and the terminal event."""
        events = self._flush_carries()
        if self._terminal:
            return events
        self._terminal = True
        if self._finish is None:
            events.append(
                Failed(
                    code=STREAM_ENDED_WITHOUT_COMPLETION,
                    message="The upstream stream ended before the response was complete.",
                    error_type=None,
                    response_id=self._response_id,
                )
            )
            return events
        output: list[dict[str, Any]] = []
        reasoning_item = self._reasoning_item()
        if reasoning_item is not None:
            output.append(reasoning_item)
            events.append(ReasoningItem(reasoning_item))
        if self._text:
            output.append(self._message_item())
        for index, call in sorted(self._tool_calls.items()):
            arguments = "".join(call.arguments) or "{}"
            call_id = call.call_id or f"call_{index}"
            events.append(
                ToolCallRequest(
                    call_id=call_id,
                    name=call.name,
                    arguments_json=arguments,
                    item_id=None,
                    index=index,
                )
            )
            output.append(
                {
                    "type": "function_call",
                    "call_id": call_id,
                    "name": call.name,
                    "arguments": arguments,
                    "status": "completed",
                }
            )
        if self._usage is not None:
            events.append(self._usage)
        finish = "tool_calls" if self._tool_calls else _FINISH.get(self._finish, "stop")
        events.append(
            Completed(
                response_id=self._response_id,
                model=self._model,
                status="incomplete" if finish == "length" else "completed",
                finish_reason=finish,
                usage=self._usage,
                output_items=output,
            )
        )
        return events

    # -- pieces ----------------------------------------------------------------------------

    def _delta(self, delta: dict[str, Any]) -> list[TurnEvent]:
        events: list[TurnEvent] = []
        details = [as_dict(detail) for detail in as_list(delta.get("reasoning_details"))]
        self._details += details
        reasoning = delta.get("reasoning")
        if not isinstance(reasoning, str) or not reasoning:
            reasoning = "".join(
                as_str(d.get("text")) or as_str(d.get("summary"))
                for d in details
                if d.get("type") in ("reasoning.text", "reasoning.summary")
            )
        if reasoning:
            self._reasoning.append(reasoning)
            if text := self._reasoning_carry.push(reasoning):
                events.append(ReasoningDelta(text))
        content = delta.get("content")
        if isinstance(content, str) and content:
            self._text.append(content)
            if text := self._text_carry.push(content):
                events.append(TextDelta(text))
        for annotation in as_list(delta.get("annotations")):
            events += self._citations.add(_flat_annotation(as_dict(annotation)))
        for piece in as_list(delta.get("tool_calls")):
            self._tool_piece(as_dict(piece))
        return events

    def _tool_piece(self, piece: dict[str, Any]) -> None:
        index = piece.get("index")
        if not isinstance(index, int):
            index = len(self._tool_calls)
        call = self._tool_calls.setdefault(index, _ToolCall())
        call.call_id = as_str(piece.get("id")) or call.call_id
        function = as_dict(piece.get("function"))
        call.name = as_str(function.get("name")) or call.name
        if isinstance(function.get("arguments"), str):
            call.arguments.append(function["arguments"])

    def _reasoning_item(self) -> dict[str, Any] | None:
        signature = next((d["signature"] for d in self._details if d.get("signature")), None)
        encrypted = next(
            (d["data"] for d in self._details if d.get("type") == "reasoning.encrypted"), None
        )
        reasoning_format = next((d["format"] for d in self._details if d.get("format")), None)
        text = "".join(self._reasoning)
        if not text and encrypted is None:
            return None
        item: dict[str, Any] = {
            "type": "reasoning",
            "id": f"rs_{self._response_id or 'chat'}",
            "status": "completed",
            "summary": [],
        }
        if text:
            item["content"] = [{"type": "reasoning_text", "text": text}]
        if signature is not None:
            item["signature"] = signature
        if encrypted is not None:
            item["encrypted_content"] = encrypted
        if reasoning_format is not None:
            item["format"] = reasoning_format
        return item

    def _message_item(self) -> dict[str, Any]:
        return {
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "".join(self._text), "annotations": []}],
        }

    def _failed(self, error: dict[str, Any]) -> list[TurnEvent]:
        self._terminal = True
        code = error.get("code")
        return [
            *self._flush_carries(),
            Failed(
                code=str(code) if isinstance(code, int | str) and code != "" else UPSTREAM_ERROR,
                message=as_str(error.get("message")) or "The upstream stream reported an error.",
                error_type=as_optional_str(error.get("type")),
                response_id=self._response_id,
            ),
        ]

    def _flush_carries(self) -> list[TurnEvent]:
        events: list[TurnEvent] = []
        if text := self._reasoning_carry.flush():
            events.append(ReasoningDelta(text))
        if text := self._text_carry.flush():
            events.append(TextDelta(text))
        return events


def _flat_annotation(annotation: dict[str, Any]) -> dict[str, Any]:
    """Chat ``{type, url_citation: {url, title, …}}`` → the Responses ``{type, url, title, …}``."""
    nested = as_dict(annotation.get("url_citation"))
    return {"type": "url_citation", **nested} if nested else annotation


def translate_chat_completion(body: dict[str, Any]) -> list[TurnEvent]:
    """The turn events of a complete (non-stream) ``chat.completion`` object."""
    translator = ChatCompletionsStreamTranslator()
    events = translator.feed(body)
    return events + translator.finish()
