"""The chat gateway: what every front door (OpenAI API, shim protocol) calls to run a turn.

It resolves the model against the catalog, passes admission, and runs the turn inside the
sessions actor, so the front only renders events. Errors that happen before any output arrive
as the turn's first item (:class:`~pipe_service.chat.turn.TurnError`), so each front can answer
with the right status code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, Protocol

import trio
from prometheus_client import CollectorRegistry

from pipe_service.admission.gate import AdmissionGate, ServerBusyError
from pipe_service.admission.user_breaker import UserRequestBreaker, UserThrottledError
from pipe_service.catalog.actor import Catalog, CatalogUnavailableError
from pipe_service.catalog.capabilities import ModelCapabilities
from pipe_service.catalog.model_ids import owui_id_to_slug
from pipe_service.catalog.registry import UnknownModelError
from pipe_service.chat.coalesce import coalesce_events, merge_deltas
from pipe_service.chat.cost_stage import record_cost, relay_with_cost_snapshots
from pipe_service.chat.error_messages import (
    LocalError,
    LocalErrorKind,
    render_error_markdown,
    render_interrupted_notice,
)
from pipe_service.chat.events import Failed, ReasoningDelta, Status, TextDelta
from pipe_service.chat.failure import INTERNAL_ERROR, SHUTTING_DOWN, log_failure
from pipe_service.chat.failure_kinds import failure_kind
from pipe_service.chat.persistence_stage import (
    PersistenceStage,
    TurnRecording,
    prepare_turn_persistence,
    relay_with_persistence,
)
from pipe_service.chat.request_telemetry import Telemetry
from pipe_service.chat.turn import log_terminal_failure, run_turn
from pipe_service.chat.turn_request import RouteCounters, TurnError, TurnOutput, TurnRequest
from pipe_service.chat.upstream_relay import StallPolicy
from pipe_service.config.error_templates import FailureKind
from pipe_service.media.intake import Attachment, MediaIntake
from pipe_service.openrouter.client import OpenRouterClient
from pipe_service.openrouter.errors import UpstreamError
from pipe_service.persistence.recorder import ArtifactPersistence
from pipe_service.sessions.actor import Sessions, TurnHandle
from pipe_service.sessions.outbox import Merge, OutboxSender
from pipe_service.telemetry.request_metrics import RequestMetrics
from pipe_service.telemetry.trace import current_trace, phase_timer
from pipe_service.tools.contract import ToolContext
from pipe_service.tools.runner import ToolRunner
from pipe_service.tools.settings import ToolSettings
from pipe_service.transform.options import RequestIdentity, TransformOptions, UserOverrides
from pipe_service.transform.session_affinity import affinity_key
from pipe_service.writebehind.cost_snapshots import CostExport


class ErrorTemplates(Protocol):
    """The configured wording of errors (``settings.messages``); None keeps the default."""

    @property
    def error_template(self) -> str | None: ...

    @property
    def interrupted_template(self) -> str | None: ...

    @property
    def support_contact(self) -> str | None: ...

    def template_for(self, kind: FailureKind) -> str | None:
        """The template for one failure kind (its own, else the general one)."""
        ...


@dataclass(frozen=True)
class DefaultTemplates:
    error_template: str | None = None
    interrupted_template: str | None = None
    support_contact: str | None = None

    def template_for(self, kind: FailureKind) -> str | None:
        return self.interrupted_template if kind == "interrupted" else self.error_template


@dataclass(frozen=True)
class StreamingOptions:
    """Delta coalescing (``adaptive``: merge only while the client's writer is busy;
    ``window``: flush at this many bytes or after this long, whichever first) and the waiting
    status a silent provider gets."""

    coalescing: Literal["adaptive", "window"] = "adaptive"
    flush_bytes: int = 256
    flush_interval_s: float = 0.025
    raw_outbox_size: int = 64
    waiting_status_after_s: float = 5.0
    waiting_status_every_s: float = 5.0
    max_event_bytes: int = 8 * 1024 * 1024


class ChatGateway:
    """Run chat turns for any front door."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        sessions: Sessions,
        admission: AdmissionGate,
        client: OpenRouterClient,
        options: TransformOptions,
        streaming: StreamingOptions,
        messages: ErrorTemplates | None = None,
        tools: ToolRunner | None = None,
        media: MediaIntake | None = None,
        session_secret: bytes | None = None,
        persistence: ArtifactPersistence | None = None,
        cost_export: CostExport | None = None,
        user_breaker: UserRequestBreaker | None = None,
        attach_request_log: bool = False,
        telemetry: Telemetry | None = None,
    ) -> None:
        """``tools`` is the tools actor's runner; without one, a private runner with default
        settings serves (tools still run, but its statistics reach no /status). ``media``:
        without one, media parts go upstream as the transform built them (tests only).
        When the sidecar stops, ``sessions`` cuts running turns (its ``ShutdownPolicy``).
        ``persistence``: without it nothing is stored or replayed (hidden markers are still
        stripped). ``user_breaker``: users whose requests keep failing are told to slow down.
        ``attach_request_log``: an error shown to the user carries the request's recent log
        lines (for diagnosis). ``session_secret`` keys the per-chat ``session_id``; without
        one no affinity key is derived. ``cost_export``: with it, each answered response's
        usage is pushed to Redis for billing pipelines."""
        self.catalog = catalog
        self.sessions = sessions
        self.admission = admission
        self.client = client
        self.options = options
        self.streaming = streaming
        self.tools = tools if tools is not None else ToolRunner(ToolSettings())
        self.messages: ErrorTemplates = messages or DefaultTemplates()
        self.persistence = persistence
        self.cost_export = cost_export
        self.media = media
        self._session_secret = session_secret
        self.route_counters = RouteCounters()
        """Endpoint-route decisions across all turns (``/status`` → ``routing``)."""
        self.user_breaker = user_breaker
        self.attach_request_log = attach_request_log
        # Without a service's telemetry (tests building a gateway), requests are still
        # traced, into a private registry nobody scrapes.
        self.telemetry = telemetry or Telemetry(
            RequestMetrics(CollectorRegistry()), user_breaker=user_breaker
        )

    def with_affinity(self, identity: RequestIdentity | None) -> RequestIdentity | None:
        """``identity`` plus the per-chat affinity key (HMAC of its chat id), when one applies."""
        if identity is None or identity.chat_id is None or not self._session_secret:
            return identity
        key = affinity_key(self._session_secret, identity.chat_id)
        return identity.model_copy(update={"affinity_key": key})

    def error_markdown(self, error: UpstreamError | LocalError) -> str:
        """The user-facing Markdown for an error, in the configured wording for its kind."""
        text = render_error_markdown(
            error,
            template=self.messages.template_for(failure_kind(error)),
            support=self.messages.support_contact,
        )
        return text + self._request_log_details()

    def interrupted_notice(self, error: UpstreamError | LocalError) -> str:
        """The notice appended after partial text when an answer fails mid-stream."""
        text = render_interrupted_notice(
            error,
            template=self.messages.template_for("interrupted"),
            support=self.messages.support_contact,
        )
        return text + self._request_log_details()

    def _request_log_details(self) -> str:
        """The request's recent log lines as a collapsed block, when the setting asks for it."""
        trace = current_trace()
        if not self.attach_request_log or trace is None or not trace.log_lines:
            return ""
        lines = "\n".join(line.replace("`", "'") for line in trace.log_lines)
        return (
            f"\n\n<details><summary>Request log ({trace.ids.request_id})</summary>\n\n"
            f"```\n{lines}\n```\n</details>"
        )

    def is_offered(self, model_id: str) -> bool:
        """True when the (filtered) catalog offers ``model_id``."""
        try:
            self.resolve_model(model_id)
        except (LookupError, CatalogUnavailableError):
            return False
        return True

    def resolve_model(self, model_id: str) -> ModelCapabilities:
        """The catalog entry for an OpenRouter slug or an Open WebUI model id.

        Raises ``CatalogUnavailableError`` before the first catalog fetch, ``UnknownModelError``
        for ids the (filtered) catalog does not hold.
        """
        registry = self.catalog.current()
        model = registry.get(model_id)
        if model is not None:
            return model
        try:
            slug = owui_id_to_slug(model_id)
        except ValueError:
            raise UnknownModelError(model_id) from None
        return registry.require(slug)

    @asynccontextmanager
    async def open_turn(
        self,
        body: Mapping[str, Any],
        *,
        model: ModelCapabilities,
        stream: bool,
        api_key: str | None = None,
        user: UserOverrides | None = None,
        identity: RequestIdentity | None = None,
        task: str | None = None,
        tools: ToolContext | None = None,
        options: TransformOptions | None = None,
        owner: str | None = None,
        attachments: tuple[Attachment, ...] = (),
    ) -> AsyncIterator[TurnHandle[TurnOutput]]:
        """Start a turn; its events (or one :class:`TurnError`) arrive through the handle.

        ``options``: request-scoped transform options (e.g. the shim's admin valves); the
        process defaults when None.

        ``owner``: who owns the stored reasoning and tool items (the OpenAI API passes the
        authenticated caller); by default the Open WebUI user of ``identity``.

        ``tools``: with an executor (and not ``passthrough``) the model's function calls run
        here through the tools actor, in a loop, and the renderer never sees them; with
        ``passthrough`` they arrive as ``ToolCallRequest`` events for the client to run.
        """
        chosen = self.options if options is None else options
        request = TurnRequest(
            body=body,
            model=model,
            stream=stream,
            options=chosen,
            user=user,
            identity=self.with_affinity(identity),
            api_key=api_key,
            task=task,
            tools=tools,
            offered=self.is_offered,
            counters=self.route_counters,
            owner=owner,
            attachments=attachments,
        )

        async def turn_body(send: OutboxSender[TurnOutput], cut: trio.CancelScope) -> None:
            await self._bounded_turn(request, send, cut)

        adaptive = self.streaming.coalescing == "adaptive"
        merge: Merge[TurnOutput] | None = merge_deltas if adaptive else None
        async with self.sessions.open_turn(turn_body, merge=merge) as handle:
            yield handle

    async def _bounded_turn(
        self,
        request: TurnRequest,
        send: OutboxSender[TurnOutput],
        cut: trio.CancelScope,
    ) -> None:
        """The error boundary of one turn: every way it can end reaches the renderer as one
        terminal item — busy, the shutdown cut, or a crash as an internal error — and a
        cancellation reaches the scope that asked for it."""
        ending = send.clone()  # the coalescer closes ``send``; this end outlives it
        async with ending:
            last: TurnOutput | None = None
            try:
                last = await self._admitted_turn(request, send, cut)
            except* trio.BrokenResourceError:
                pass  # the renderer left (client gone): nobody to tell
            except* Exception as group:
                last = crashed(request, group)
            if last is not None:
                with suppress(trio.BrokenResourceError):  # the renderer left meanwhile
                    await ending.send(last)

    async def _admitted_turn(
        self,
        request: TurnRequest,
        send: OutboxSender[TurnOutput],
        cut: trio.CancelScope,
    ) -> TurnOutput | None:
        """Run the turn under admission inside the shutdown ``cut`` scope; returns the item
        still owed to the renderer (busy, slow down, or the shutdown notice), or None."""
        user_id = request.identity.user_id if request.identity is not None else None
        trace = current_trace()
        if user_id is None and trace is not None:
            user_id = trace.ids.user_id  # the OpenAI API's ``user`` field
        try:
            if self.user_breaker is not None:
                self.user_breaker.check(user_id, trio.current_time())
            waiting = phase_timer("admission_wait")
            async with self.admission.admit():
                waiting.stop()
                with cut:
                    await self._coalesced_turn(request, send)
        except (ServerBusyError, UserThrottledError) as refused_by:
            refused = TurnError(refused_by)
            log_terminal_failure(refused, request)
            return refused
        if cut.cancelled_caught:
            notice = shutdown_cut()
            log_terminal_failure(notice, request)
            return notice
        return None

    async def _coalesced_turn(self, request: TurnRequest, send: OutboxSender[TurnOutput]) -> None:
        stall = StallPolicy(
            status_after_s=self.streaming.waiting_status_after_s,
            status_every_s=self.streaming.waiting_status_every_s,
            stall_timeout_s=self.client.stall_timeout_s,
            max_event_bytes=self.streaming.max_event_bytes,
        )
        request, recording, status = await prepare_turn_persistence(self.persistence, request)
        if status is not None:
            await send.send(Status(status, done=True))
        if self.streaming.coalescing == "adaptive":
            # Everything in this task: the stages are steps of the sink, and the outbox
            # coalesces by the renderer's pace, so no event hops between tasks on its way.
            sink = _InlineStages(send, recording, self.cost_export, request)
            await run_turn(
                request, self.client, sink, tool_runner=self.tools, stall=stall, media=self.media
            )
            return
        raw_send, raw_receive = trio.open_memory_channel[TurnOutput](self.streaming.raw_outbox_size)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                partial(
                    run_turn,
                    request,
                    self.client,
                    raw_send,
                    tool_runner=self.tools,
                    stall=stall,
                    media=self.media,
                )
            )
            if recording is not None:
                # Between the turn and the coalescer: stores the finished turn, adds markers.
                kept_send, kept_receive = trio.open_memory_channel[TurnOutput](
                    self.streaming.raw_outbox_size
                )
                nursery.start_soon(relay_with_persistence, raw_receive, kept_send, recording)
                raw_receive = kept_receive
            if self.cost_export is not None:
                costed_send, costed_receive = trio.open_memory_channel[TurnOutput](
                    self.streaming.raw_outbox_size
                )
                nursery.start_soon(
                    relay_with_cost_snapshots, raw_receive, costed_send, self.cost_export, request
                )
                raw_receive = costed_receive
            await coalesce_events(
                raw_receive,
                send,
                flush_bytes=self.streaming.flush_bytes,
                flush_interval_s=self.streaming.flush_interval_s,
            )


class _InlineStages:
    """The turn's sink in adaptive mode: the persistence and cost-snapshot steps run in the
    turn's own task (no relay task, no channel per stage), then the outbox. Empty deltas are
    dropped, as the windowed coalescer drops them. Closing it closes the outbox end."""

    def __init__(
        self,
        out: OutboxSender[TurnOutput],
        recording: TurnRecording | None,
        cost_export: CostExport | None,
        request: TurnRequest,
    ) -> None:
        self._out = out
        self._persistence = PersistenceStage(recording) if recording is not None else None
        self._cost_export = cost_export
        self._request = request

    async def send(self, item: TurnOutput, /) -> None:
        if isinstance(item, TextDelta | ReasoningDelta) and not item.text:
            return
        if self._cost_export is not None:
            record_cost(item, self._cost_export, self._request)
        if self._persistence is not None:
            await self._persistence.pass_on(item, self._out.send)
        else:
            await self._out.send(item)

    def close(self) -> None:
        if self._persistence is not None:
            self._persistence.close()
        self._out.close()


def crashed(request: TurnRequest, group: BaseExceptionGroup[Exception]) -> Failed:
    """The item for a turn that crashed (a bug): an internal error, logged with its
    traceback and error id."""
    failure = LocalError(LocalErrorKind.INTERNAL)
    log_failure(
        failure,
        request_id=request.request_id,
        identity=request.identity,
        model=request.model.slug,
        stage="crashed",
        exc_info=group,
    )
    return Failed(
        code=INTERNAL_ERROR,
        message="the answer ended unexpectedly",
        error_type=None,
        response_id=None,
        failure=failure,
    )


def shutdown_cut() -> Failed:
    """The item for a turn cut because the sidecar is stopping (the sidecar's doing, not
    OpenRouter's or the model's)."""
    return Failed(
        code=SHUTTING_DOWN,
        message="the sidecar is restarting",
        error_type=None,
        response_id=None,
        failure=LocalError(LocalErrorKind.SHUTTING_DOWN),
    )
