"""Translate OpenRouter Responses stream events into the turn events of ``chat.events``.

:class:`ResponsesStreamTranslator` is a pure state machine: feed it one parsed event dict at a
time and it returns the :data:`TurnEvent` values that event produces; call ``finish()`` at the
end of the stream. :func:`translate_response` builds the same events from a non-stream Response
object, so both paths share one set of rules:

* text deltas → ``TextDelta``; raw reasoning and reasoning-summary deltas → ``ReasoningDelta``
  (a blank line separates successive reasoning parts);
* ``url_citation`` annotations → ``Citation`` (deduplicated by URL, numbered), whether streamed
  or present only in the finished items;
* a finished ``function_call`` item → ``ToolCallRequest``; a finished ``reasoning`` item →
  ``ReasoningItem`` (for replay);
* server web-search items → ``Status`` lines;
* a finished ``image_generation_call`` item → ``GeneratedImage`` (its base64 ``result``, the
  MIME type sniffed from the bytes), with "Generating an image…" status lines around it;
* ``response.completed`` / ``response.incomplete`` → ``Usage`` then ``Completed``;
  ``response.failed`` and ``error`` → ``Failed``; no terminal event at all → ``Failed`` with code
  :data:`STREAM_ENDED_WITHOUT_COMPLETION`.

Whatever a finished item holds but the stream never delivered as deltas (some providers send
only the final objects) is emitted when the item, or the terminal response, arrives. Events after
the terminal one, unknown event types and sequence-number gaps are tolerated and counted.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from pipe_service.chat.citations import CitationRegistry
from pipe_service.chat.events import (
    Completed,
    Failed,
    FinishReason,
    GeneratedImage,
    ReasoningDelta,
    ReasoningItem,
    Status,
    TextDelta,
    ToolCallRequest,
    TurnEvent,
)
from pipe_service.chat.failure import STREAM_ENDED_WITHOUT_COMPLETION
from pipe_service.chat.json_fields import as_dict, as_list, as_optional_str, as_str
from pipe_service.chat.responses_usage import usage_from_responses
from pipe_service.chat.surrogates import SurrogateCarry
from pipe_service.media.inline import sniff_mime

UPSTREAM_ERROR: Final = "upstream_error"
RESPONSE_CANCELLED: Final = "response_cancelled"
REASONING_PART_SEPARATOR: Final = "\n\n"

# Server-side tools whose progress users see: item type -> (running, finished) status text.
SERVER_TOOL_STATUS: Final[dict[str, tuple[str, str]]] = {
    "openrouter:web_search": ("Searching the web…", "Searched the web"),
    "web_search_call": ("Searching the web…", "Searched the web"),
    "openrouter:web_fetch": ("Fetching web page…", "Fetched web page"),
    "image_generation_call": ("Generating an image…", "Generated an image"),
}
_WEB_SEARCH_CALL_PROGRESS: Final = frozenset(
    {"response.web_search_call.in_progress", "response.web_search_call.searching"}
)
# Events that carry nothing a turn needs (their content arrives again in other events).
_KNOWN_SILENT: Final = frozenset(
    {
        "response.created",
        "response.in_progress",
        "response.queued",
        "response.content_part.added",
        "response.content_part.done",
        "response.output_text.done",
        "response.reasoning_text.done",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_part.done",
        "response.reasoning_summary_text.done",
        "response.function_call_arguments.delta",
        "response.refusal.done",
        "response.debug",
        "response.image_generation_call.in_progress",
        "response.image_generation_call.generating",
        "response.image_generation_call.partial_image",
        "response.image_generation_call.completed",
    }
)
_INCOMPLETE_FINISH: Final[dict[str, FinishReason]] = {
    "max_output_tokens": "length",
    "content_filter": "content_filter",
}


@dataclass(frozen=True, slots=True)
class TranslatorStatistics:
    """What one translator saw; unusual counts are worth a log line."""

    events: int
    unknown_events: int
    sequence_gaps: int
    after_terminal: int


class ResponsesStreamTranslator:
    """Turn Responses stream events into :data:`TurnEvent` values (one instance per request).

    Synopsis::

        translator = ResponsesStreamTranslator()
        async for raw in events:
            for event in translator.feed(raw):
                await send(event)
        for event in translator.finish():
            await send(event)
    """

    def __init__(self) -> None:
        self._citations = CitationRegistry()
        self._text_carry = SurrogateCarry()
        self._reasoning_carry = SurrogateCarry()
        self._response_id: str | None = None
        self._terminal = False
        # Items whose text/reasoning was streamed as deltas, and items fully handled.
        self._streamed_items: set[str] = set()
        self._finished_items: set[str] = set()
        self._reasoning_part: tuple[str, str, int] | None = None
        self._has_reasoning_text = False
        self._tool_calls = 0
        self._tool_arguments: dict[str, str] = {}
        self._status_started: set[str] = set()
        self._last_sequence: int | None = None
        self._events = 0
        self._unknown = 0
        self._gaps = 0
        self._after_terminal = 0

    def statistics(self) -> TranslatorStatistics:
        """Counters so far."""
        return TranslatorStatistics(self._events, self._unknown, self._gaps, self._after_terminal)

    @property
    def finished(self) -> bool:
        """True once a completed, incomplete, failed or error event was handled."""
        return self._terminal

    def feed(self, event: dict[str, Any]) -> list[TurnEvent]:
        """Handle one parsed stream event; return the turn events it produces, in order."""
        self._events += 1
        self._track_sequence(event.get("sequence_number"))
        if self._terminal:
            self._after_terminal += 1
            return []
        kind = event.get("type")
        match kind:
            case "response.output_text.delta" | "response.refusal.delta":
                return self._text(event)
            case "response.reasoning_text.delta":
                return self._reasoning(event, "text", event.get("content_index"))
            case "response.reasoning_summary_text.delta":
                return self._reasoning(event, "summary", event.get("summary_index"))
            case "response.output_text.annotation.added":
                return list(self._citations.add(event.get("annotation")))
            case "response.function_call_arguments.done":
                item_id, arguments = event.get("item_id"), event.get("arguments")
                if isinstance(item_id, str) and isinstance(arguments, str):
                    self._tool_arguments[item_id] = arguments
                return []
            case "response.output_item.added":
                return self._item_added(as_dict(event.get("item")), event.get("output_index"))
            case "response.output_item.done":
                return self._item_done(as_dict(event.get("item")), event.get("output_index"))
            case "response.completed" | "response.incomplete" | "response.failed":
                return self._terminal_response(as_dict(event.get("response")))
            case "error" | "response.error":
                return self._error_event(event)
            case _ if kind in _WEB_SEARCH_CALL_PROGRESS:
                return self._status_running(event.get("item_id"), "web_search_call")
            case "response.web_search_call.completed":
                return []  # the finished status comes with output_item.done
            case "response.created" | "response.in_progress":
                self._remember_response_id(as_dict(event.get("response")))
                return []
            case _ if kind in _KNOWN_SILENT:
                return []
            case _:
                self._unknown += 1
                return []

    def finish(self) -> list[TurnEvent]:
        """End of stream: a turn that never reached a terminal event fails."""
        events = self._flush_carries()
        if not self._terminal:
            self._terminal = True
            events.append(
                Failed(
                    code=STREAM_ENDED_WITHOUT_COMPLETION,
                    message="The upstream stream ended before the response was complete.",
                    error_type=None,
                    response_id=self._response_id,
                )
            )
        return events

    # -- deltas ---------------------------------------------------------------------------

    def _text(self, event: dict[str, Any]) -> list[TurnEvent]:
        self._mark_streamed(event)
        text = self._text_carry.push(as_str(event.get("delta")))
        return [TextDelta(text)] if text else []

    def _reasoning(self, event: dict[str, Any], part_kind: str, index: Any) -> list[TurnEvent]:
        self._mark_streamed(event)
        part = (as_str(event.get("item_id")), part_kind, index if isinstance(index, int) else 0)
        text = self._reasoning_carry.push(as_str(event.get("delta")))
        return self._reasoning_text(part, text)

    def _reasoning_text(self, part: tuple[str, str, int], text: str) -> list[TurnEvent]:
        if not text:
            return []
        if part != self._reasoning_part and self._has_reasoning_text:
            text = REASONING_PART_SEPARATOR + text
        self._reasoning_part = part
        self._has_reasoning_text = True
        return [ReasoningDelta(text)]

    def _mark_streamed(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        if isinstance(item_id, str):
            self._streamed_items.add(item_id)

    def _flush_carries(self) -> list[TurnEvent]:
        events: list[TurnEvent] = []
        if text := self._text_carry.flush():
            events.append(TextDelta(text))
        if text := self._reasoning_carry.flush():
            events.append(ReasoningDelta(text))
        return events

    # -- output items ---------------------------------------------------------------------

    def _item_added(self, item: dict[str, Any], output_index: Any) -> list[TurnEvent]:
        item_type = as_str(item.get("type"))
        if item_type in SERVER_TOOL_STATUS:
            return self._status_running(_item_key(item, output_index), item_type)
        return []

    def _status_running(self, key: Any, item_type: str) -> list[TurnEvent]:
        if not isinstance(key, str) or key in self._status_started:
            return []
        self._status_started.add(key)
        return [Status(SERVER_TOOL_STATUS[item_type][0], done=False)]

    def _item_done(self, item: dict[str, Any], output_index: Any) -> list[TurnEvent]:
        """Handle a finished output item once, emitting whatever was not streamed."""
        key = _item_key(item, output_index)
        item_type = as_str(item.get("type"))
        if key in self._finished_items:
            # Annotations may still differ between the streamed item and the final response.
            if item_type == "message":
                return list(self._citations.add_from_message_item(item))
            return []
        self._finished_items.add(key)
        streamed = key in self._streamed_items
        if item_type == "message":
            events: list[TurnEvent] = []
            if not streamed:
                text = "".join(_part_texts(item.get("content"), ("output_text", "refusal")))
                if text := self._text_carry.push(text):
                    events.append(TextDelta(text))
            return events + list(self._citations.add_from_message_item(item))
        if item_type == "reasoning":
            return self._reasoning_item_done(key, item, streamed)
        if item_type == "function_call":
            return self._tool_call(key, item)
        if item_type == "image_generation_call":
            return self._status_done(key, item, item_type) + _generated_image(item)
        if item_type in SERVER_TOOL_STATUS:
            return self._status_done(key, item, item_type)
        return []

    def _reasoning_item_done(
        self, key: str, item: dict[str, Any], streamed: bool
    ) -> list[TurnEvent]:
        events: list[TurnEvent] = []
        if not streamed:
            # Prefer the raw reasoning text; fall back to the summaries.
            texts = list(_part_texts(item.get("content"), ("reasoning_text",)))
            part_kind = "text"
            if not texts:
                texts = list(_part_texts(item.get("summary"), ("summary_text",)))
                part_kind = "summary"
            for index, text in enumerate(texts):
                events += self._reasoning_text((key, part_kind, index), text)
        events.append(ReasoningItem(item))
        return events

    def _tool_call(self, key: str, item: dict[str, Any]) -> list[TurnEvent]:
        arguments = item.get("arguments")
        if not isinstance(arguments, str) or not arguments:
            arguments = self._tool_arguments.get(key, "")
        item_id = item.get("id")
        call_id = item.get("call_id")
        request = ToolCallRequest(
            call_id=as_optional_str(call_id) or key,
            name=as_str(item.get("name")),
            arguments_json=arguments or "{}",
            item_id=as_optional_str(item_id),
            index=self._tool_calls,
        )
        self._tool_calls += 1
        return [request]

    def _status_done(self, key: str, item: dict[str, Any], item_type: str) -> list[TurnEvent]:
        description = SERVER_TOOL_STATUS[item_type][1]
        query = as_dict(item.get("action")).get("query")
        if isinstance(query, str) and query:
            description = f"{description}: {query}"
        return [Status(description, done=True)]

    # -- terminal events ------------------------------------------------------------------

    def _terminal_response(self, response: dict[str, Any]) -> list[TurnEvent]:
        self._remember_response_id(response)
        # Catch up on items the stream never finished (or a non-stream response).
        events: list[TurnEvent] = []
        output = [item for item in as_list(response.get("output")) if isinstance(item, dict)]
        for position, item in enumerate(output):
            events += self._item_done(item, position)
        events += self._flush_carries()
        self._terminal = True
        status = as_str(response.get("status")) or "completed"
        if status in ("failed", "cancelled"):
            return [*events, self._failed_from_response(response, status)]
        usage = usage_from_responses(response.get("usage"))
        if usage is not None:
            events.append(usage)
        model = response.get("model")
        events.append(
            Completed(
                response_id=self._response_id,
                model=as_optional_str(model),
                status=status,
                finish_reason=self._finish_reason(response, status),
                usage=usage,
                output_items=output,
            )
        )
        return events

    def _finish_reason(self, response: dict[str, Any], status: str) -> FinishReason:
        if status == "incomplete":
            reason = as_dict(response.get("incomplete_details")).get("reason")
            return _INCOMPLETE_FINISH.get(reason if isinstance(reason, str) else "", "length")
        return "tool_calls" if self._tool_calls else "stop"

    def _failed_from_response(self, response: dict[str, Any], status: str) -> Failed:
        error = as_dict(response.get("error"))
        error_type = response.get("error_type")
        default_code = RESPONSE_CANCELLED if status == "cancelled" else UPSTREAM_ERROR
        return Failed(
            code=_code(error.get("code"), default_code),
            message=as_str(error.get("message")) or f"The upstream response {status}.",
            error_type=as_optional_str(error_type),
            response_id=self._response_id,
        )

    def _error_event(self, event: dict[str, Any]) -> list[TurnEvent]:
        # The spec's flat form {code, message} or the docs' nested form {error: {code, message}}.
        nested = as_dict(event.get("error"))
        source = nested or event
        self._terminal = True
        error_type = source.get("error_type", event.get("error_type"))
        return [
            *self._flush_carries(),
            Failed(
                code=_code(source.get("code"), UPSTREAM_ERROR),
                message=as_str(source.get("message")) or "The upstream stream reported an error.",
                error_type=as_optional_str(error_type),
                response_id=self._response_id,
            ),
        ]

    def _remember_response_id(self, response: dict[str, Any]) -> None:
        response_id = response.get("id")
        if isinstance(response_id, str) and response_id:
            self._response_id = response_id

    def _track_sequence(self, number: Any) -> None:
        if not isinstance(number, int):
            return
        if self._last_sequence is not None and number != self._last_sequence + 1:
            self._gaps += 1
        self._last_sequence = number


def translate_response(response: dict[str, Any]) -> list[TurnEvent]:
    """The turn events of a complete (non-stream) Response object."""
    translator = ResponsesStreamTranslator()
    events = translator.feed({"type": "response.completed", "response": response})
    return events + translator.finish()


def _generated_image(item: dict[str, Any]) -> list[TurnEvent]:
    result = item.get("result")
    if not isinstance(result, str) or not result:
        return []
    declared = None
    if result.startswith("data:") and "," in result:
        header, result = result[5:].split(",", 1)
        declared = header.split(";", 1)[0] or None
    try:
        head = base64.b64decode(result[:64], validate=True)
    except (binascii.Error, ValueError):
        return [Status("⚠️ The generated image could not be read", done=True)]
    mime = sniff_mime(head) or declared or "image/png"
    if not mime.startswith("image/"):
        return [Status("⚠️ The generated image could not be read", done=True)]
    return [GeneratedImage(mime=mime, data_b64=result, item_id=as_optional_str(item.get("id")))]


def _item_key(item: dict[str, Any], output_index: Any) -> str:
    return as_optional_str(item.get("id")) or f"#{output_index}"


def _part_texts(parts: Any, part_types: Iterable[str]) -> Iterable[str]:
    wanted = set(part_types)
    for part in as_list(parts):
        if isinstance(part, dict) and part.get("type") in wanted:
            text = part.get("text", part.get("refusal"))
            if isinstance(text, str) and text:
                yield text


def _code(value: Any, default: str) -> str:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return default
