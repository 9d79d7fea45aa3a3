"""What a turn is asked to do (:class:`TurnRequest`) and what it writes (:data:`TurnOutput`).

Kept apart from :mod:`pipe_service.chat.turn` so the tool loop, which the turn drives, can name
these types without importing the turn: the dependency runs turn → tool_loop → turn_request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipe_service.catalog.capabilities import ModelCapabilities
from pipe_service.chat.events import TurnEvent
from pipe_service.chat.failure import TurnFailure, failure_for_exception
from pipe_service.media.intake import Attachment
from pipe_service.telemetry.trace import current_request_id
from pipe_service.tools.contract import ToolContext
from pipe_service.transform.options import RequestIdentity, TransformOptions, UserOverrides


@dataclass
class RouteCounters:
    """Process-wide counts of the upstream route's decisions (for ``/status``)."""

    chat_completions_runs: int = 0
    fallbacks_to_chat: int = 0
    reasoning_retries: int = 0


@dataclass
class RouteMemory:
    """What earlier upstream runs of this turn learned (a tool loop makes several runs)."""

    fell_back_to_chat: bool = False


@dataclass(frozen=True)
class TurnRequest:
    """Everything one turn needs, resolved by the caller (model looked up, options merged)."""

    body: Mapping[str, Any]
    model: ModelCapabilities
    stream: bool
    options: TransformOptions
    user: UserOverrides | None = None
    identity: RequestIdentity | None = None
    api_key: str | None = None
    task: str | None = None
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    tools: ToolContext | None = None
    offered: Callable[[str], bool] | None = None
    """Whether a model id is offered here; fallback models named by the request must be."""
    route: RouteMemory = field(default_factory=RouteMemory)
    counters: RouteCounters = field(default_factory=RouteCounters)
    """Shared by every turn of a gateway, so ``/status`` can show them."""
    request_id: str = field(default_factory=current_request_id)
    """Names this turn in every log line about it: the id of the request it serves (its trace's,
    minted at arrival), so the turn's failure log, the end-of-request line, the request log
    shown with an error and the log archive all name one id."""
    owner: str | None = None
    """Who owns the turn's stored artifacts; None: ``user:<identity.user_id>`` if known."""
    replayed: Mapping[int, Sequence[dict[str, Any]]] | None = None
    """Stored items to replay before the assistant message at each index of the history."""
    on_tool_round: Callable[[list[dict[str, Any]]], Awaitable[None]] | None = None
    """Called by the tool loop after each round with the round's items (reasoning, calls,
    results, in order), so they can be stored while the next run streams."""
    attachments: tuple[Attachment, ...] = ()
    """Open WebUI files the shim read from storage, sent as native parts (direct uploads)."""


@dataclass(frozen=True)
class TurnError:
    """The turn failed before any output; renderers answer with an error, not a stream.

    ``error`` is what was raised (its type picks the status code / frame); ``failure`` is the one
    error value shown and logged, minted here when the raiser did not carry one.
    """

    error: Exception
    failure: TurnFailure = field(default=None, compare=False, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        given: TurnFailure | None = self.failure
        if given is None:
            object.__setattr__(self, "failure", failure_for_exception(self.error))


TurnOutput = TurnEvent | TurnError
Emit = Callable[[TurnOutput], Awaitable[None]]


class TurnSink(Protocol):
    """Where a turn writes its outputs: a memory channel's send end, the turn's outbox, or the
    gateway's inline stages in front of it. The turn closes it when it ends."""

    async def send(self, item: TurnOutput, /) -> None: ...

    def close(self) -> None: ...
