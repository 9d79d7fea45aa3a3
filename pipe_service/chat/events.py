"""The output events of one chat turn.

The Responses stream translator (``chat.translate``) produces these; the shim-protocol sender and
the OpenAI-compatible API consume them (``chat.openai_chunks``, ``chat.owui_events``). They are
immutable values with no behaviour beyond small derived properties, so every consumer renders
them its own way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pipe_service.chat.failure import TurnFailure, failure_for_code
from pipe_service.openrouter.usage import Usage

FinishReason = Literal["stop", "length", "content_filter", "tool_calls"]


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the assistant's visible answer."""

    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of visible reasoning (raw reasoning text or a reasoning summary)."""

    text: str


@dataclass(frozen=True, slots=True)
class Citation:
    """A web source the answer cites; ``index`` is its 1-based number, unique per URL per turn."""

    url: str
    title: str
    excerpt: str | None
    index: int


@dataclass(frozen=True, slots=True)
class Status:
    """A progress line (e.g. "Searching the web…"); ``done`` ends its shimmer."""

    description: str
    done: bool


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    """An image the model generated (an ``image_generation_call`` item), base64-encoded.

    The shim front stores it in Open WebUI (owned by the chat's user) and shows it; the
    OpenAI-compatible API returns it in ``message.images`` as OpenRouter does.
    """

    mime: str
    data_b64: str
    item_id: str | None

    @property
    def data_url(self) -> str:
        return f"data:{self.mime};base64,{self.data_b64}"


@dataclass(frozen=True, slots=True)
class ToolCallRequest:
    """A completed ``function_call`` output item the model wants executed.

    ``index`` is the call's position among this turn's tool calls (0-based); the OpenAI chunk
    format needs it to address ``delta.tool_calls[index]``.
    """

    call_id: str
    name: str
    arguments_json: str
    item_id: str | None
    index: int = 0


@dataclass(frozen=True, slots=True)
class ToolRan:
    """A tool the sidecar's loop ran for the model: its call and what came back (or the error)."""

    call_id: str
    name: str
    arguments_json: str
    output: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ReasoningItem:
    """A completed ``reasoning`` output item, kept verbatim for replay in later requests."""

    item: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Completed:
    """The upstream response ended normally (``completed``) or was cut short (``incomplete``)."""

    response_id: str | None
    model: str | None
    status: str
    finish_reason: FinishReason
    usage: Usage | None
    output_items: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Failed:
    """The turn failed after it started; ``code`` is stable and machine-readable.

    ``failure`` is the one error value (kind, status, retry-after, provider, error id) both
    renderers show and the log names; built from the code where the failure happened when the
    producer does not pass one.
    """

    code: str
    message: str
    error_type: str | None
    response_id: str | None
    failure: TurnFailure = field(default=None, compare=False, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        given: TurnFailure | None = self.failure
        if given is None:
            failure = failure_for_code(self.code, self.message, self.error_type)
            object.__setattr__(self, "failure", failure)


TurnEvent = (
    TextDelta
    | ReasoningDelta
    | Citation
    | Status
    | GeneratedImage
    | ToolCallRequest
    | ToolRan
    | ReasoningItem
    | Usage
    | Completed
    | Failed
)
