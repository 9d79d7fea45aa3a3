"""Builds the event sequence of one answer: output items, their deltas, pacing pauses.

:class:`StreamWriter` numbers events from 0 with no gaps, puts ``sequence_number`` last and keeps
the wire key order (``type``, ``output_index``, ``item_id``, ``content_index``, payload). Each
``add_*`` method emits the full event family of one output item (reference §2.2-§2.5) and records
the finished item for ``response.completed``.

Synopsis::

    out = StreamWriter(pacing)
    out.add_message(["Hello ", "world"])
    out.output  # [{"id": "msg_tmp_...", "type": "message", "status": "completed", ...}]
"""

from __future__ import annotations

from typing import Any

from pipe_service.simulator import ids
from pipe_service.simulator.pacing import Pacing
from pipe_service.simulator.script import Done, Drop, Emit, Keepalive, Pause, Stall, Step


class StreamWriter:
    """Collects the steps of one answer and the output items it completed."""

    def __init__(self, pacing: Pacing) -> None:
        self.pacing = pacing
        self.steps: list[Step] = []
        self.output: list[dict[str, Any]] = []
        self.output_chars = 0
        self.reasoning_chars = 0
        self.web_search_requests = 0
        self.images_generated = 0
        self._sequence_number = 0
        self._items_started = 0
        self._deltas_sent = 0

    # -- low level -------------------------------------------------------------------------
    def emit(self, event_type: str, **fields: Any) -> dict[str, Any]:
        event = {"type": event_type, **fields, "sequence_number": self._sequence_number}
        self._sequence_number += 1
        self.steps.append(Emit(event))
        return event

    def keepalive(self) -> None:
        self.steps.append(Keepalive())

    def pause(self, seconds: float) -> None:
        if seconds > 0:
            self.steps.append(Pause(seconds, self.pacing.keepalive_interval_s))

    def stall(self, seconds: float) -> None:
        if seconds > 0:
            self.steps.append(Stall(seconds))

    def drop(self) -> None:
        self.steps.append(Drop())

    def done(self) -> None:
        self.steps.append(Done())

    def _delta(self, event_type: str, **fields: Any) -> None:
        # The inter-delta delay separates every delta of the answer, across items.
        if self._deltas_sent:
            self.pause(self.pacing.inter_delta_delay_s)
        self._deltas_sent += 1
        self.emit(event_type, **fields)

    def _next_output_index(self) -> int:
        index = self._items_started
        self._items_started += 1
        return index

    # -- output items ------------------------------------------------------------------------
    def add_message(
        self,
        chunks: list[str],
        annotations: list[dict[str, Any]] | None = None,
        *,
        complete: bool = True,
    ) -> None:
        """A message item streamed as ``chunks``; ``complete=False`` stops after the deltas."""
        index, item_id = self._next_output_index(), ids.message_item_id()
        annotations = annotations or []
        where = {"output_index": index, "item_id": item_id, "content_index": 0}
        item = {"id": item_id, "type": "message", "status": "in_progress", "role": "assistant"}
        self.emit("response.output_item.added", output_index=index, item=item | {"content": []})
        empty_part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        self.emit("response.content_part.added", **where, part=empty_part)
        for chunk in chunks:
            self._delta("response.output_text.delta", **where, delta=chunk, logprobs=[])
        if not complete:
            return
        text = "".join(chunks)
        self.output_chars += len(text)
        for number, annotation in enumerate(annotations):
            self.emit(
                "response.output_text.annotation.added",
                **where,
                annotation_index=number,
                annotation=annotation,
            )
        self.emit("response.output_text.done", **where, text=text, logprobs=[])
        part = {"type": "output_text", "text": text, "annotations": annotations, "logprobs": []}
        self.emit("response.content_part.done", **where, part=part)
        done = item | {"status": "completed", "content": [part]}
        self.emit("response.output_item.done", output_index=index, item=done)
        self.output.append(done)

    def add_visible_reasoning(
        self, chunks: list[str], *, signature: str | None, reasoning_format: str
    ) -> None:
        """Anthropic-style reasoning: ``reasoning_text`` deltas inside a content part."""
        index, item_id = self._next_output_index(), ids.reasoning_item_id()
        where = {"output_index": index, "item_id": item_id, "content_index": 0}
        item = {"id": item_id, "type": "reasoning", "status": "in_progress", "summary": []}
        self.emit("response.output_item.added", output_index=index, item=item)
        self.emit(
            "response.content_part.added", **where, part={"type": "reasoning_text", "text": ""}
        )
        for chunk in chunks:
            self._delta("response.reasoning_text.delta", **where, delta=chunk)
        text = "".join(chunks)
        self.reasoning_chars += len(text)
        self.emit("response.reasoning_text.done", **where, text=text)
        part = {"type": "reasoning_text", "text": text}
        self.emit("response.content_part.done", **where, part=part)
        done = {
            "id": item_id,
            "type": "reasoning",
            "status": "completed",
            "content": [part],
            "summary": [],
            "signature": signature,
            "format": reasoning_format,
        }
        self.emit("response.output_item.done", output_index=index, item=done)
        self.output.append(done)

    def add_encrypted_reasoning(
        self, encrypted_content: str, *, hidden_chars: int, summary_chunks: list[str] | None
    ) -> None:
        """OpenAI-style reasoning: added then done, optionally with summary events between."""
        index, item_id = self._next_output_index(), ids.reasoning_item_id()
        item = {"id": item_id, "type": "reasoning", "status": "in_progress", "summary": []}
        self.emit("response.output_item.added", output_index=index, item=item)
        summary: list[dict[str, str]] = []
        if summary_chunks:
            where = {"item_id": item_id, "output_index": index, "summary_index": 0}
            self.emit(
                "response.reasoning_summary_part.added",
                **where,
                part={"type": "summary_text", "text": ""},
            )
            for chunk in summary_chunks:
                self._delta("response.reasoning_summary_text.delta", **where, delta=chunk)
            text = "".join(summary_chunks)
            self.emit("response.reasoning_summary_text.done", **where, text=text)
            part = {"type": "summary_text", "text": text}
            self.emit("response.reasoning_summary_part.done", **where, part=part)
            summary.append(part)
        self.reasoning_chars += hidden_chars
        done = item | {
            "status": "completed",
            "summary": summary,
            "encrypted_content": encrypted_content,
            "format": "openai-responses-v1",
        }
        self.emit("response.output_item.done", output_index=index, item=done)
        self.output.append(done)

    def add_function_call(self, name: str, argument_chunks: list[str]) -> None:
        """A function_call item; arguments stream as ``function_call_arguments.delta``."""
        index, item_id = self._next_output_index(), ids.function_item_id()
        item = {
            "id": item_id,
            "type": "function_call",
            "status": "in_progress",
            "call_id": ids.call_id(),
            "name": name,
            "arguments": "",
        }
        self.emit("response.output_item.added", output_index=index, item=item)
        for chunk in argument_chunks:
            self._delta(
                "response.function_call_arguments.delta",
                output_index=index,
                item_id=item_id,
                delta=chunk,
            )
        arguments = "".join(argument_chunks)
        self.output_chars += len(name) + len(arguments)
        self.emit(
            "response.function_call_arguments.done",
            output_index=index,
            item_id=item_id,
            name=name,
            arguments=arguments,
        )
        done = item | {"status": "completed", "arguments": arguments}
        self.emit("response.output_item.done", output_index=index, item=done)
        self.output.append(done)

    def add_web_search(self, query: str, sources: list[str]) -> None:
        """An ``openrouter:web_search`` server-tool item (added in progress, then done)."""
        index, item_id = self._next_output_index(), ids.web_search_item_id()
        item: dict[str, Any] = {
            "id": item_id,
            "type": "openrouter:web_search",
            "status": "in_progress",
        }
        self.emit("response.output_item.added", output_index=index, item=item)
        action = {
            "type": "search",
            "query": query,
            "sources": [{"type": "url", "url": url} for url in sources],
        }
        done = item | {"status": "completed", "action": action}
        self.emit("response.output_item.done", output_index=index, item=done)
        self.web_search_requests += 1
        self.output.append(done)

    def add_image_generation(self, result_b64: str) -> None:
        """An ``image_generation_call`` item whose ``result`` is the base64 image."""
        index, item_id = self._next_output_index(), ids.image_item_id()
        item: dict[str, Any] = {"id": item_id, "type": "image_generation_call"}
        self.emit(
            "response.output_item.added", output_index=index, item=item | {"status": "in_progress"}
        )
        where = {"output_index": index, "item_id": item_id}
        self.emit("response.image_generation_call.in_progress", **where)
        self.emit("response.image_generation_call.generating", **where)
        self.pause(self.pacing.inter_delta_delay_s)
        self.emit("response.image_generation_call.completed", **where)
        done = item | {"status": "completed", "result": result_b64}
        self.emit("response.output_item.done", output_index=index, item=done)
        self.images_generated += 1
        self.output.append(done)
