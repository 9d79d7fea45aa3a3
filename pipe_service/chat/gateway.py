"""The chat gateway: what every front door (OpenAI API, shim protocol) calls to run a turn.

It resolves the model against the catalog, passes admission, and runs the turn inside the
sessions actor, so the front only renders events. Errors that happen before any output arrive
as the turn's first item (:class:`~pipe_service.chat.turn.TurnError`), so each front can answer
with the right status code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import trio
from prometheus_client import CollectorRegistry

from pipe_service.admission.actor import AdmissionGate, ServerBusyError
from pipe_service.admission.user_breaker import UserRequestBreaker, UserThrottledError
from pipe_service.catalog.actor import Catalog
from pipe_service.catalog.capabilities import ModelCapabilities
from pipe_service.catalog.model_ids import owui_id_to_slug
from pipe_service.catalog.registry import UnknownModelError
from pipe_service.chat.coalesce import coalesce_events
from pipe_service.chat.cost_stage import relay_with_cost_snapshots
from pipe_service.chat.error_messages import (
    LocalError,
    render_error_markdown,
    render_interrupted_notice,
)
from pipe_service.chat.events import Failed, Status
from pipe_service.chat.turn import SHUTTING_DOWN, run_turn
from pipe_service.chat.turn_request import TurnError, TurnOutput, TurnRequest
from pipe_service.config.settings import MessageSettings
from pipe_service.media.intake import Attachment, MediaIntake
from pipe_service.openrouter.client import OpenRouterClient
from pipe_service.openrouter.errors import UpstreamError
from pipe_service.persistence.recorder import ArtifactPersistence
from pipe_service.persistence.turn_stage import prepare_turn_persistence, relay_with_persistence
from pipe_service.sessions.actor import Sessions, TurnHandle
from pipe_service.telemetry.request_metrics import RequestMetrics
from pipe_service.telemetry.requests import Telemetry
from pipe_service.telemetry.trace import current_trace, phase_timer
from pipe_service.tools.contract import ToolContext
from pipe_service.tools.runner import ToolRunner
from pipe_service.tools.settings import ToolSettings
from pipe_service.transform.options import RequestIdentity, TransformOptions, UserOverrides
from pipe_service.transform.payload import upstream_headers
from pipe_service.writebehind.cost_snapshots import CostExport


@dataclass(frozen=True)
class ShutdownPolicy:
    """How running turns end when the sidecar stops: ``drain_s`` after ``wait_requested``
    returns they are cut with a notice (shorter than the front's graceful timeout, so the
    notice still reaches the client)."""

    wait_requested: Callable[[], Awaitable[None]]
    drain_s: float


async def cut_after_shutdown(scope: trio.CancelScope, policy: ShutdownPolicy) -> None:
    """Cancel ``scope`` ``policy.drain_s`` after shutdown is requested."""
    await policy.wait_requested()
    await trio.sleep(policy.drain_s)
    scope.cancel()


@dataclass(frozen=True)
class StreamingOptions:
    """Delta coalescing: flush at this many bytes or after this long, whichever first."""

    flush_bytes: int = 256
    flush_interval_s: float = 0.025
    raw_outbox_size: int = 64


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
        messages: MessageSettings | None = None,
        tools: ToolRunner | None = None,
        media: MediaIntake | None = None,
        shutdown: ShutdownPolicy | None = None,
        persistence: ArtifactPersistence | None = None,
        cost_export: CostExport | None = None,
        user_breaker: UserRequestBreaker | None = None,
        attach_request_log: bool = False,
        telemetry: Telemetry | None = None,
    ) -> None:
        """``tools`` is the tools actor's runner; without one, a private runner with default
        settings serves (tools still run, but its statistics reach no /status). ``media``:
        without one, media parts go upstream as the transform built them (tests only).
        ``shutdown``: without one, running turns are never cut when the process stops.
        ``persistence``: without it nothing is stored or replayed (hidden markers are still
        stripped). ``user_breaker``: users whose requests keep failing are told to slow down.
        ``attach_request_log``: an error shown to the user carries the request's recent log
        lines (for diagnosis). ``cost_export``: with it, each answered response's usage is
        pushed to Redis for billing pipelines."""
        self.catalog = catalog
        self.sessions = sessions
        self.admission = admission
        self.client = client
        self.options = options
        self.streaming = streaming
        self.tools = tools if tools is not None else ToolRunner(ToolSettings())
        self.messages = messages or MessageSettings()
        self.shutdown = shutdown
        self.persistence = persistence
        self.cost_export = cost_export
        self.media = media
        self.user_breaker = user_breaker
        self.attach_request_log = attach_request_log
        # Without a service's telemetry (tests building a gateway), requests are still
        # traced, into a private registry nobody scrapes.
        self.telemetry = telemetry or Telemetry(
            RequestMetrics(CollectorRegistry()), user_breaker=user_breaker
        )

    def error_markdown(self, error: UpstreamError | LocalError) -> str:
        """The user-facing Markdown for an error, in the configured wording."""
        text = render_error_markdown(error, template=self.messages.error_template)
        return text + self._request_log_details()

    def interrupted_notice(self, error: UpstreamError | LocalError) -> str:
        """The notice appended after partial text when an answer fails mid-stream."""
        text = render_interrupted_notice(error, template=self.messages.interrupted_template)
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
            identity=identity,
            api_key=api_key,
            task=task,
            tools=tools,
            extra_headers=upstream_headers(model, chosen),
            owner=owner,
            attachments=attachments,
        )

        async def turn_body(send: trio.MemorySendChannel[TurnOutput]) -> None:
            await self._admitted_turn(request, send)

        async with self.sessions.open_turn(turn_body) as handle:
            yield handle

    async def _admitted_turn(
        self, request: TurnRequest, send: trio.MemorySendChannel[TurnOutput]
    ) -> None:
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
                await self._turn_until_shutdown(request, send)
        except (ServerBusyError, UserThrottledError) as refused:
            async with send:
                await send.send(TurnError(refused))

    async def _turn_until_shutdown(
        self, request: TurnRequest, send: trio.MemorySendChannel[TurnOutput]
    ) -> None:
        """Run the turn; when the sidecar stops, give it ``drain_s`` to finish, then cut it
        with a clear notice instead of letting the connection drop mid-answer."""
        if self.shutdown is None:
            await self._coalesced_turn(request, send)
            return
        notice = send.clone()  # the coalescer closes ``send``; this end outlives it
        async with notice:
            turn_scope = trio.CancelScope()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(cut_after_shutdown, turn_scope, self.shutdown)
                with turn_scope:
                    await self._coalesced_turn(request, send)
                nursery.cancel_scope.cancel()
            if turn_scope.cancelled_caught:
                await notice.send(
                    Failed(
                        code=SHUTTING_DOWN,
                        message="The service is restarting; this answer was cut short. "
                        "Please send it again in a moment.",
                        error_type=None,
                        response_id=None,
                    )
                )

    async def _coalesced_turn(
        self, request: TurnRequest, send: trio.MemorySendChannel[TurnOutput]
    ) -> None:
        request, recording, status = await prepare_turn_persistence(self.persistence, request)
        if status is not None:
            await send.send(Status(status, done=True))
        raw_send, raw_receive = trio.open_memory_channel[TurnOutput](self.streaming.raw_outbox_size)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                partial(
                    run_turn,
                    request,
                    self.client,
                    raw_send,
                    tool_runner=self.tools,
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
