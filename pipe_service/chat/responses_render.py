"""Render turn events as an OpenAI Responses API stream and response object.

``POST /v1/responses`` runs the same turn as the chat API and renders its events here: the
stream events an OpenAI Responses client reads (``response.created``, ``response.output_item.*``,
``response.output_text.delta``, ``response.reasoning_summary_text.delta``,
``response.function_call_arguments.*``, then ``response.completed`` / ``response.incomplete`` /
``response.failed``), and the final ``response`` object a non-streaming call returns. One state
machine serves both: a non-streaming call feeds every event and keeps only :meth:`response`.

Status lines and stored reasoning items have no Responses form and are not rendered.

Synopsis::

    render = ResponsesRender(response_id, model=model.slug, created_at=int(time.time()))
    frames = [render.created()]
    for event in events:
        frames.extend(render.feed(event))
"""

from __future__ import annotations

import secrets
from typing import Any, Literal

from pipe_service.chat.events import (
    Citation,
    Completed,
    Failed,
    GeneratedImage,
    ReasoningDelta,
    TextDelta,
    ToolCallRequest,
    TurnEvent,
)
from pipe_service.openrouter.usage import Usage

StreamEvent = dict[str, Any]
_OpenKind = Literal["message", "reasoning"]


def new_response_id() -> str:
    """A fresh ``resp_…`` id (the sidecar stores no responses; the id names this answer)."""
    return f"resp_{secrets.token_hex(12)}"


class ResponsesRender:
    """The Responses rendering of one turn; feed it the turn's events in order."""

    def __init__(self, response_id: str, *, model: str, created_at: int) -> None:
        self._id = response_id
        self._model = model
        self._created_at = created_at
        self._sequence = 0
        self._output: list[dict[str, Any]] = []
        self._open: dict[str, Any] | None = None
        self._open_kind: _OpenKind | None = None
        self._text: list[str] = []
        self._status = "in_progress"
        self._usage: Usage | None = None
        self._error: dict[str, str] | None = None
        self._incomplete_reason: str | None = None

    @property
    def finished(self) -> bool:
        """Whether a terminal event (completed, incomplete or failed) has been rendered."""
        return self._status != "in_progress"

    def created(self) -> list[StreamEvent]:
        """The opening events: ``response.created`` and ``response.in_progress``."""
        return [
            self._event("response.created", response=self.response()),
            self._event("response.in_progress", response=self.response()),
        ]

    def feed(self, event: TurnEvent) -> list[StreamEvent]:
        """The stream events for one turn event (none for events without a Responses form)."""
        if isinstance(event, TextDelta):
            return [*self._open_item("message"), self._text_delta(event.text)]
        if isinstance(event, ReasoningDelta):
            return [*self._open_item("reasoning"), self._reasoning_delta(event.text)]
        if isinstance(event, Citation):
            return [*self._open_item("message"), self._annotation(event)]
        if isinstance(event, ToolCallRequest):
            item = {
                "id": event.item_id or f"fc_{secrets.token_hex(12)}",
                "type": "function_call",
                "status": "completed",
                "call_id": event.call_id,
                "name": event.name,
                "arguments": event.arguments_json,
            }
            return [*self._close_item(), *self._whole_item(item, "function_call_arguments")]
        if isinstance(event, GeneratedImage):
            item = {
                "id": event.item_id or f"ig_{secrets.token_hex(12)}",
                "type": "image_generation_call",
                "status": "completed",
                "result": event.data_b64,
            }
            return [*self._close_item(), *self._whole_item(item, None)]
        if isinstance(event, Completed):
            return self._complete(event)
        if isinstance(event, Failed):
            return self.fail(event.code, event.message)
        return []

    def fail(self, code: str, message: str) -> list[StreamEvent]:
        """End the response as failed after whatever output it had (``response.failed``)."""
        closing = self._close_item(status="incomplete")
        self._status = "failed"
        self._error = {"code": code, "message": message}
        return [*closing, self._event("response.failed", response=self.response())]

    def response(self) -> dict[str, Any]:
        """The ``response`` object as it stands (final once :attr:`finished`)."""
        return {
            "id": self._id,
            "object": "response",
            "created_at": self._created_at,
            "status": self._status,
            "model": self._model,
            "output": list(self._output),
            "usage": None if self._usage is None else responses_usage(self._usage),
            "error": self._error,
            "incomplete_details": (
                None if self._incomplete_reason is None else {"reason": self._incomplete_reason}
            ),
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "store": False,
            "metadata": {},
        }

    def _complete(self, event: Completed) -> list[StreamEvent]:
        closing = self._close_item()
        self._usage = event.usage
        if event.status == "incomplete":
            self._status = "incomplete"
            self._incomplete_reason = (
                "content_filter" if event.finish_reason == "content_filter" else "max_output_tokens"
            )
            return [*closing, self._event("response.incomplete", response=self.response())]
        self._status = "completed"
        return [*closing, self._event("response.completed", response=self.response())]

    def _open_item(self, kind: _OpenKind) -> list[StreamEvent]:
        if self._open_kind == kind:
            return []
        events = self._close_item()
        if kind == "message":
            item: dict[str, Any] = {
                "id": f"msg_{secrets.token_hex(12)}",
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            }
            part: dict[str, Any] = {"type": "output_text", "text": "", "annotations": []}
            added = "response.content_part.added"
        else:
            item = {"id": f"rs_{secrets.token_hex(12)}", "type": "reasoning", "summary": []}
            part = {"type": "summary_text", "text": ""}
            added = "response.reasoning_summary_part.added"
        self._open, self._open_kind, self._text = item, kind, []
        events.append(self._item_event("response.output_item.added", item))
        events.append(self._part_event(added, part))
        return events

    def _close_item(self, status: str = "completed") -> list[StreamEvent]:
        item, kind = self._open, self._open_kind
        if item is None or kind is None:
            return []
        self._open, self._open_kind = None, None
        text = "".join(self._text)
        if kind == "message":
            part = {"type": "output_text", "text": text, "annotations": item.pop("annotations", [])}
            item["content"] = [part]
            item["status"] = status
            events = [
                self._text_event("response.output_text.done", item, text=text),
                self._part_event("response.content_part.done", part, item=item),
            ]
        else:
            part = {"type": "summary_text", "text": text}
            item["summary"] = [part]
            events = [
                self._summary_event("response.reasoning_summary_text.done", item, text=text),
                self._summary_part_done(item, part),
            ]
        self._output.append(item)
        events.append(
            self._event("response.output_item.done", output_index=len(self._output) - 1, item=item)
        )
        return events

    def _whole_item(self, item: dict[str, Any], arguments: str | None) -> list[StreamEvent]:
        output_index = len(self._output)
        self._output.append(item)
        events = [
            self._event(
                "response.output_item.added",
                output_index=output_index,
                item={**item, "status": "in_progress", **({"arguments": ""} if arguments else {})},
            )
        ]
        if arguments is not None:
            common = {"item_id": item["id"], "output_index": output_index}
            events.append(
                self._event(f"response.{arguments}.delta", **common, delta=item["arguments"])
            )
            events.append(
                self._event(f"response.{arguments}.done", **common, arguments=item["arguments"])
            )
        events.append(
            self._event("response.output_item.done", output_index=output_index, item=item)
        )
        return events

    def _text_delta(self, text: str) -> StreamEvent:
        self._text.append(text)
        assert self._open is not None
        return self._text_event("response.output_text.delta", self._open, delta=text, logprobs=[])

    def _reasoning_delta(self, text: str) -> StreamEvent:
        self._text.append(text)
        assert self._open is not None
        return self._summary_event("response.reasoning_summary_text.delta", self._open, delta=text)

    def _annotation(self, citation: Citation) -> StreamEvent:
        assert self._open is not None
        position = sum(len(piece) for piece in self._text)
        annotation = {
            "type": "url_citation",
            "url": citation.url,
            "title": citation.title,
            "start_index": position,
            "end_index": position,
        }
        annotations: list[dict[str, Any]] = self._open.setdefault("annotations", [])
        annotations.append(annotation)
        return self._text_event(
            "response.output_text.annotation.added",
            self._open,
            annotation_index=len(annotations) - 1,
            annotation=annotation,
        )

    def _item_event(self, kind: str, item: dict[str, Any]) -> StreamEvent:
        shown = {key: value for key, value in item.items() if key != "annotations"}
        return self._event(kind, output_index=len(self._output), item=shown)

    def _part_event(
        self, kind: str, part: dict[str, Any], *, item: dict[str, Any] | None = None
    ) -> StreamEvent:
        # The open item joins the output only once closed, so its index is the output's length.
        owner = item if item is not None else self._open
        assert owner is not None
        index_key = "summary_index" if part["type"] == "summary_text" else "content_index"
        return self._event(
            kind, item_id=owner["id"], output_index=len(self._output), **{index_key: 0}, part=part
        )

    def _summary_part_done(self, item: dict[str, Any], part: dict[str, Any]) -> StreamEvent:
        return self._event(
            "response.reasoning_summary_part.done",
            item_id=item["id"],
            output_index=len(self._output),
            summary_index=0,
            part=part,
        )

    def _text_event(self, kind: str, item: dict[str, Any], **fields: Any) -> StreamEvent:
        return self._event(
            kind, item_id=item["id"], output_index=len(self._output), content_index=0, **fields
        )

    def _summary_event(self, kind: str, item: dict[str, Any], **fields: Any) -> StreamEvent:
        return self._event(
            kind, item_id=item["id"], output_index=len(self._output), summary_index=0, **fields
        )

    def _event(self, kind: str, **fields: Any) -> StreamEvent:
        event = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return event


def responses_usage(usage: Usage) -> dict[str, Any]:
    """The Responses API ``usage`` object, plus OpenRouter's ``cost`` when known."""
    rendered: dict[str, Any] = {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }
    if usage.cost is not None:
        rendered["cost"] = usage.cost
    return rendered
