"""The operator-facing wiring of a started service: the metrics it exports, the database probe
run at each scrape, ``/status`` details, and the run-time settings appliers.

Kept apart from ``service.py`` (which starts the actors in order) so that file stays the
readable start-up sequence. Synopsis::

    operations = ServiceParts(gate=gate, client=client, ...)
    wire_operations(context, operations, database, reload_source=...)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial

import trio

from pipe_service.admission.gate import AdmissionGate
from pipe_service.admission.user_breaker import UserRequestBreaker
from pipe_service.catalog.actor import Catalog
from pipe_service.chat.gateway import ChatGateway, StreamingOptions
from pipe_service.chat.request_telemetry import Telemetry
from pipe_service.config import Settings
from pipe_service.config.live import LiveSettings
from pipe_service.context import ServiceContext
from pipe_service.logsink.levels import LogLevels
from pipe_service.logsink.startup import LogSink
from pipe_service.openrouter.client import OpenRouterClient
from pipe_service.persistence.db_writer import WriterStatistics
from pipe_service.service_metrics import DatabaseHealth, MetricSources, ServiceCollector
from pipe_service.sessions.actor import Sessions
from pipe_service.storage.engine import Database
from pipe_service.tools.runner import ToolRunner
from pipe_service.writebehind.flusher import FlusherStatistics
from pipe_service.writebehind.queue import WriteBehindStatistics

logger = logging.getLogger("pipe_service.service")

DATABASE_PROBE_LIMIT_S = 5.0  # a /metrics scrape waits this long for the database at most


@dataclass(frozen=True)
class ServiceParts:
    """The running parts operators observe and steer."""

    gate: AdmissionGate
    client: OpenRouterClient
    tools: ToolRunner
    catalog: Catalog
    sessions: Sessions
    gateway: ChatGateway
    telemetry: Telemetry
    user_breaker: UserRequestBreaker
    log_sink: LogSink
    persistence_writer: Callable[[], WriterStatistics] | None = None
    persistence_ready: Callable[[], bool] | None = None
    write_behind: Callable[[], WriteBehindStatistics] | None = None
    flusher: Callable[[], FlusherStatistics] | None = None


def wire_operations(
    context: ServiceContext,
    parts: ServiceParts,
    database: Database,
    *,
    reload_source: Callable[[], Settings] | None,
) -> LiveSettings:
    """Register metrics sources, the database probe, status details and live settings."""
    health = DatabaseHealth()
    breaker = parts.user_breaker
    assert context.metrics_registry is not None
    context.metrics_registry.register(
        ServiceCollector(
            MetricSources(
                admission=parts.gate.statistics,
                upstream=parts.client.statistics,
                tools=parts.tools.statistics,
                catalog=parts.catalog.statistics,
                sessions=parts.sessions.statistics,
                user_breaker=lambda: breaker.statistics(trio.current_time()),
                log_sink=parts.log_sink.statistics,
                database=health,
                persistence_writer=parts.persistence_writer,
                persistence_ready=parts.persistence_ready,
                write_behind=parts.write_behind,
                flusher=parts.flusher,
            )
        )
    )
    context.scrape_probes.append(partial(probe_database, database, health))
    providers = context.details_providers
    providers["catalog"] = lambda: asdict(parts.catalog.statistics())
    providers["admission"] = lambda: asdict(parts.gate.statistics())
    providers["sessions"] = lambda: asdict(parts.sessions.statistics())
    providers["tools"] = lambda: asdict(parts.tools.statistics())
    providers["upstream_client"] = lambda: asdict(parts.client.statistics())
    providers["routing"] = lambda: asdict(parts.gateway.route_counters)
    providers["requests"] = lambda: asdict(parts.telemetry.statistics())
    providers["user_breaker"] = lambda: asdict(breaker.statistics(trio.current_time()))
    providers["log_sink"] = lambda: asdict(parts.log_sink.statistics())
    live = LiveSettings(context.settings, reload_source=reload_source)
    live.add_applier(partial(apply_live_settings, parts=parts, context=context))
    context.live = live
    return live


async def probe_database(database: Database, health: DatabaseHealth) -> None:
    """Ping the database (bounded); the result is a metric value, never a failed scrape."""
    began = trio.current_time()
    with trio.move_on_after(DATABASE_PROBE_LIMIT_S):
        try:
            await database.ping()
        except Exception as exc:  # a dead database is a metric value, not a failed scrape
            logger.warning("database probe failed: %s", type(exc).__name__)
            health.up, health.ping_s = False, None
            return
        health.up, health.ping_s = True, trio.current_time() - began
        return
    health.up, health.ping_s = False, None


def streaming_options(settings: Settings) -> StreamingOptions:
    """Every streaming option a turn reads, from ``settings`` (at start and on each change:
    a field left out here would fall back to its default on the first ``set``)."""
    streaming = settings.streaming
    return StreamingOptions(
        coalescing=streaming.coalescing,
        flush_bytes=streaming.flush_bytes,
        flush_interval_s=streaming.flush_interval_s,
        waiting_status_after_s=streaming.waiting_status_after_s,
        waiting_status_every_s=streaming.waiting_status_every_s,
        raw_outbox_size=streaming.raw_outbox_size,
        max_event_bytes=streaming.max_event_bytes,
    )


def apply_live_settings(
    settings: Settings, *, parts: ServiceParts, context: ServiceContext
) -> None:
    """Push the run-time part of ``settings`` into the running parts (new requests see it)."""
    admission = settings.admission
    parts.gate.resize(slots=admission.slots, queue=admission.queue)
    parts.gate.retry_after_s = admission.retry_after_s
    parts.user_breaker.configure(
        failures=admission.user_breaker_failures, window_s=admission.user_breaker_window_s
    )
    parts.catalog.unavailable_retry_after_s = settings.catalog.unavailable_retry_after_s
    parts.tools.update_settings(settings.tools)
    gateway = parts.gateway
    gateway.options = settings.chat
    gateway.messages = settings.messages
    gateway.streaming = streaming_options(settings)
    gateway.attach_request_log = settings.logging.attach_to_errors
    parts.telemetry.log_buffer_lines = settings.logging.request_buffer_lines
    parts.log_sink.handler.set_levels(
        LogLevels.from_names(settings.log_level, settings.logging.user_levels)
    )
    context.settings = settings
