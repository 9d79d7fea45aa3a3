"""Render a turn's events as shim-protocol frames.

Deltas arrive already coalesced by the gateway, so each becomes exactly one frame with no other
per-delta work. Citations and status lines become Open WebUI emitter events (``event`` frames);
the end of the turn becomes one terminal frame: ``done`` (usage, the usage line, and for
non-stream or task requests the whole answer), ``error`` or ``busy``.

Errors are shown to the user as Markdown (``chat.error_messages``): a turn that fails before any
output gets the full error message; one that fails after output gets ``interrupted`` with a
notice the shim appends after the partial text.

Synopsis::

    renderer = TurnRenderer(arguments.render, whole_answer=False, task=False, model=slug,
                            started_at=trio.current_time())
    for frame in renderer.render(item, now=trio.current_time()):
        await outbox.send(frame)
    if renderer.finished: ...
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final, Protocol, cast

from pipe_service.admission.byte_budget import ByteBudgetExceededError
from pipe_service.admission.gate import ServerBusyError
from pipe_service.admission.user_breaker import UserThrottledError
from pipe_service.catalog.actor import CatalogUnavailableError
from pipe_service.catalog.registry import UnknownModelError
from pipe_service.chat.coalesce import MAX_MERGED_CHARS
from pipe_service.chat.error_messages import (
    LocalError,
    LocalErrorKind,
    render_error_markdown,
    render_interrupted_notice,
)
from pipe_service.chat.events import (
    Citation,
    Completed,
    Failed,
    ReasoningDelta,
    Status,
    TextDelta,
    ToolCallRequest,
    ToolRan,
)
from pipe_service.chat.failure import SHUTTING_DOWN, TurnFailure
from pipe_service.chat.openai_chunks import usage_dict
from pipe_service.chat.owui_events import citation_event, status_event, tool_card_markdown
from pipe_service.chat.turn_request import TurnError, TurnOutput
from pipe_service.chat.usage_line import format_usage_line
from pipe_service.front.pipe.request import RenderOptions
from pipe_service.openrouter.errors import UpstreamError
from pipe_service.openrouter.usage import Usage
from pipe_service.protocol import (
    Busy,
    Delta,
    Done,
    Error,
    ErrorCode,
    Event,
    PassthroughToolCall,
    ProtocolError,
    Reasoning,
    ServerFrame,
)
from pipe_service.telemetry.trace import current_trace

logger = logging.getLogger("pipe_service.front.pipe.render")

THINKING_STATUS_CHARS: Final = 160
"""In the ``status`` thinking mode, the status line shows this many trailing reasoning chars."""


class ErrorWording(Protocol):
    """Renders errors as user-facing Markdown in the configured wording (``ChatGateway``)."""

    def error_markdown(self, error: UpstreamError | LocalError) -> str: ...

    def interrupted_notice(self, error: UpstreamError | LocalError) -> str: ...


@dataclass(frozen=True)
class _TemplatedWording:
    """The request's own error templates (admin valves), else the sidecar's wording."""

    fallback: ErrorWording
    error_template: str | None
    interrupted_template: str | None

    def error_markdown(self, error: UpstreamError | LocalError) -> str:
        if self.error_template is None:
            return self.fallback.error_markdown(error)
        return render_error_markdown(error, template=self.error_template)

    def interrupted_notice(self, error: UpstreamError | LocalError) -> str:
        if self.interrupted_template is None:
            return self.fallback.interrupted_notice(error)
        return render_interrupted_notice(error, template=self.interrupted_template)


def _templated(wording: ErrorWording, render: RenderOptions) -> ErrorWording:
    if render.error_template is None and render.interrupted_template is None:
        return wording
    return _TemplatedWording(wording, render.error_template, render.interrupted_template)


class TurnRenderer:
    """Turn outputs into frames for one request; stateful (accumulates text, tool calls)."""

    def __init__(
        self,
        render: RenderOptions,
        *,
        whole_answer: bool,
        task: bool,
        model: str,
        started_at: float,
        wording: ErrorWording,
    ) -> None:
        self._options = render
        self._wording = _templated(wording, render)
        self._whole_answer = whole_answer
        self._task = task
        self._model = model
        self._started_at = started_at
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._reasoning_tail = ""
        self._tool_calls: list[PassthroughToolCall] = []
        self._usage: Usage | None = None
        self._output_started = False
        self.finished = False

    def render(self, item: TurnOutput, *, now: float) -> list[ServerFrame]:
        """The frames for one turn output (``[]`` for events the shim does not see)."""
        if isinstance(item, TextDelta):
            self._output_started = True
            if self._whole_answer:
                self._text.append(item.text)
                return []
            return [Delta(text=item.text)]
        if isinstance(item, ReasoningDelta):
            return self._reasoning_frames(item.text)
        if isinstance(item, Citation):
            return [] if self._task else [Event(event=citation_event(item))]
        if isinstance(item, Status):
            return (
                [] if self._task else [Event(event=status_event(item.description, done=item.done))]
            )
        if isinstance(item, ToolRan):
            if not self._options.show_tool_cards or self._task or self._whole_answer:
                return []
            self._output_started = True
            return [Delta(text=tool_card_markdown(item))]
        if isinstance(item, ToolCallRequest):
            self._tool_calls.append(
                PassthroughToolCall(id=item.call_id, name=item.name, arguments=item.arguments_json)
            )
            return []
        if isinstance(item, Usage):
            self._usage = item if self._usage is None else self._usage + item
            return []
        if isinstance(item, Completed):
            self.finished = True
            return self._done(item, now)
        if isinstance(item, Failed):
            self.finished = True
            return [self._failed(item)]
        if isinstance(item, TurnError):
            self.finished = True
            return [error_frame_for(item.error, self._wording, failure=item.failure)]
        return []  # ReasoningItem: kept for replay by the turn, not shown

    def ended_without_terminal(self) -> ServerFrame:
        """The frame for a turn that stopped without a terminal event (it crashed)."""
        self.finished = True
        error = LocalError(LocalErrorKind.INTERNAL, "the answer ended unexpectedly")
        logger.error("turn ended without a terminal event", extra={"error_id": error.error_id})
        if self._output_started:
            return Error(
                code=ErrorCode.INTERRUPTED,
                message=self._wording.interrupted_notice(error),
                error_id=error.error_id,
                content=self._partial_content(),
            )
        return Error(
            code=ErrorCode.INTERNAL,
            message=self._wording.error_markdown(error),
            error_id=error.error_id,
        )

    def _reasoning_frames(self, text: str) -> list[ServerFrame]:
        self._output_started = True
        if self._whole_answer:
            self._reasoning.append(text)
            return []
        frames: list[ServerFrame] = []
        mode = self._options.thinking_output
        if mode in ("open_webui", "both"):
            frames.append(Reasoning(text=text))
        if mode in ("status", "both"):
            tail = (self._reasoning_tail + text)[-THINKING_STATUS_CHARS:]
            self._reasoning_tail = tail
            line = " ".join(tail.split())
            frames.append(Event(event=status_event(f"Thinking… {line}", done=False)))
        return frames

    def _done(self, completed: Completed, now: float) -> list[ServerFrame]:
        usage = completed.usage or self._usage
        usage_line = None
        if self._options.show_usage and not self._task:
            usage_line = format_usage_line(
                usage,
                elapsed_s=max(now - self._started_at, 0.0),
                style=self._options.usage_style,
                icons=self._options.usage_icons,
                model=completed.model or self._model,
            )
            trace = current_trace()
            if self._options.show_timing and trace is not None and trace.phases:
                usage_line = f"{usage_line} | {trace.timing_summary()}"
        finish_reason = "tool_calls" if self._tool_calls else completed.finish_reason
        done = Done(
            finish_reason=finish_reason,
            usage=None if usage is None else usage_dict(usage),
            usage_line=usage_line,
            content="".join(self._text) if self._whole_answer else None,
            reasoning=("".join(self._reasoning) or None) if self._whole_answer else None,
            tool_calls=list(self._tool_calls),
        )
        return [done]

    def _failed(self, failed: Failed) -> ServerFrame:
        error = failed.failure
        if self._output_started:
            return Error(
                code=ErrorCode.INTERRUPTED,
                message=self._wording.interrupted_notice(error),
                error_id=error.error_id,
                retry_after_s=error.retry_after_s,
                content=self._partial_content(),
            )
        return Error(
            code=_frame_code(failed.code, error),
            message=self._wording.error_markdown(error),
            error_id=error.error_id,
            retry_after_s=error.retry_after_s,
        )

    def _partial_content(self) -> str | None:
        # Streamed text already reached the shim; only a whole-answer request needs it here.
        return "".join(self._text) if self._whole_answer else None


def _frame_code(code: str, failure: TurnFailure) -> str:
    if code == SHUTTING_DOWN:
        return ErrorCode.SHUTTING_DOWN
    if isinstance(failure, LocalError) and failure.kind is LocalErrorKind.INTERNAL:
        return ErrorCode.INTERNAL
    return ErrorCode.UPSTREAM


def error_frame_for(
    exc: BaseException, wording: ErrorWording, *, failure: TurnFailure | None = None
) -> Error | Busy:
    """The terminal frame for a failure before any output (admission, catalog, upstream).

    ``failure``: the error value the turn already minted (and logged) for ``exc``; its id is
    the one shown. Failures found by the front itself (protocol, catalog) are minted here.
    """
    if isinstance(failure, LocalError) and failure.kind is not LocalErrorKind.INTERNAL:
        if isinstance(exc, ServerBusyError):
            return Busy(
                message=wording.error_markdown(failure), retry_after_s=failure.retry_after_s
            )
        if failure.kind is LocalErrorKind.SLOW_DOWN:
            return Error(
                code=ErrorCode.SLOW_DOWN,
                message=wording.error_markdown(failure),
                error_id=failure.error_id,
                retry_after_s=failure.retry_after_s,
            )
        code = ErrorCode.INVALID_REQUEST
        return Error(code=code, message=wording.error_markdown(failure), error_id=failure.error_id)
    if isinstance(exc, ProtocolError):
        if exc.code != ErrorCode.INVALID_REQUEST:
            return exc.frame()  # a shim bug, not a user mistake: the plain reason is enough
        local = LocalError(LocalErrorKind.INVALID_REQUEST, exc.message)
        return Error(code=exc.code, message=wording.error_markdown(local), error_id=local.error_id)
    if isinstance(exc, UserThrottledError):
        slow = LocalError(LocalErrorKind.SLOW_DOWN, retry_after_s=float(exc.retry_after_s))
        return Error(
            code=ErrorCode.SLOW_DOWN,
            message=wording.error_markdown(slow),
            error_id=slow.error_id,
            retry_after_s=float(exc.retry_after_s),
        )
    if isinstance(exc, ByteBudgetExceededError):
        busy = LocalError(LocalErrorKind.BUSY, retry_after_s=float(exc.retry_after_s))
        return Busy(message=wording.error_markdown(busy), retry_after_s=float(exc.retry_after_s))
    if isinstance(exc, ServerBusyError):
        busy = LocalError(LocalErrorKind.BUSY, retry_after_s=float(exc.retry_after_s))
        return Busy(message=wording.error_markdown(busy), retry_after_s=float(exc.retry_after_s))
    if isinstance(exc, UpstreamError):
        return Error(
            code=ErrorCode.UPSTREAM,
            message=wording.error_markdown(exc),
            error_id=exc.error_id,
            retry_after_s=exc.retry_after_s,
        )
    if isinstance(exc, UnknownModelError):
        return _local_error(
            ErrorCode.UNKNOWN_MODEL, LocalError(LocalErrorKind.RESTRICTED_MODEL, str(exc)), wording
        )
    if isinstance(exc, CatalogUnavailableError):
        local = LocalError(
            LocalErrorKind.BUSY,
            "the model catalog has not been loaded from OpenRouter yet",
            retry_after_s=float(exc.retry_after_s),
        )
        return Error(
            code=ErrorCode.CATALOG_UNAVAILABLE,
            message=wording.error_markdown(local),
            error_id=local.error_id,
            retry_after_s=float(exc.retry_after_s),
        )
    if isinstance(exc, ValueError):  # RequestTransformError names the body field at fault
        return _local_error(
            ErrorCode.INVALID_REQUEST, LocalError(LocalErrorKind.INVALID_REQUEST, str(exc)), wording
        )
    if isinstance(failure, LocalError):
        local = failure  # minted and logged where the turn failed
    else:
        local = LocalError(LocalErrorKind.INTERNAL)
        logger.error(
            "chat turn failed", extra={"error_id": local.error_id, "error": type(exc).__name__}
        )
    return Error(
        code=ErrorCode.INTERNAL, message=wording.error_markdown(local), error_id=local.error_id
    )


def _local_error(code: str, local: LocalError, wording: ErrorWording) -> Error:
    return Error(code=code, message=wording.error_markdown(local), error_id=local.error_id)


def merge_text_frames(queued: ServerFrame, new: ServerFrame) -> ServerFrame | None:
    """One frame standing for two consecutive ``delta`` (or ``reasoning``) frames, for the
    session's outbox to merge while its writer is busy; None for any other pair (or once the
    queued text reaches ``MAX_MERGED_CHARS``)."""
    if type(new) is not type(queued) or not isinstance(queued, Delta | Reasoning):
        return None
    if len(queued.text) >= MAX_MERGED_CHARS:
        return None
    addition = cast("Delta | Reasoning", new)  # the same frame type, checked above
    # Both texts were validated when their frames were built; nothing new to validate.
    return type(queued).model_construct(text=queued.text + addition.text)
