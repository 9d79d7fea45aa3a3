"""Scrape-time metrics from the statistics the actors already keep (no hot-path cost).

Each source is a callable returning the actor's frozen statistics record; the service passes
the ones it has. ``/metrics`` runs the async probes first (the database ping), then collects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from pipe_service.admission.gate import AdmissionStatistics
from pipe_service.admission.user_breaker import UserBreakerStatistics
from pipe_service.catalog.actor import CatalogStatistics
from pipe_service.logsink.startup import LogSinkStatistics
from pipe_service.openrouter.client import UpstreamClientStatistics
from pipe_service.persistence.db_writer import WriterStatistics
from pipe_service.sessions.actor import SessionStatistics
from pipe_service.tools.statistics import ToolStatistics
from pipe_service.writebehind.flusher import FlusherStatistics
from pipe_service.writebehind.queue import WriteBehindStatistics

Family = GaugeMetricFamily | CounterMetricFamily


@dataclass
class DatabaseHealth:
    """The last database probe (refreshed by ``/metrics`` before each scrape)."""

    up: bool | None = None
    ping_s: float | None = None


@dataclass
class MetricSources:
    admission: Callable[[], AdmissionStatistics] | None = None
    upstream: Callable[[], UpstreamClientStatistics] | None = None
    tools: Callable[[], ToolStatistics] | None = None
    catalog: Callable[[], CatalogStatistics] | None = None
    sessions: Callable[[], SessionStatistics] | None = None
    user_breaker: Callable[[], UserBreakerStatistics] | None = None
    log_sink: Callable[[], LogSinkStatistics] | None = None
    database: DatabaseHealth | None = None
    persistence_writer: Callable[[], WriterStatistics] | None = None
    persistence_ready: Callable[[], bool] | None = None
    write_behind: Callable[[], WriteBehindStatistics] | None = None
    flusher: Callable[[], FlusherStatistics] | None = None


def _gauge(name: str, doc: str, value: float, labels: dict[str, str] | None = None) -> Family:
    family = GaugeMetricFamily(name, doc, labels=list(labels or {}))
    family.add_metric(list((labels or {}).values()), value)
    return family


def _counter(name: str, doc: str, value: float) -> Family:
    family = CounterMetricFamily(name, doc)
    family.add_metric([], value)
    return family


class ServiceCollector(Collector):
    """Admission, upstream, tools, catalog, sessions, breakers, the log sink, the database."""

    def __init__(self, sources: MetricSources) -> None:
        self._sources = sources

    def collect(self) -> Iterator[Family]:
        src = self._sources
        if src.admission is not None:
            yield from _admission(src.admission())
        if src.upstream is not None:
            yield from _upstream(src.upstream())
        if src.tools is not None:
            yield from _tools(src.tools())
        if src.catalog is not None:
            stats = src.catalog()
            yield _gauge(
                "pipe_service_catalog_age_seconds",
                "Seconds since the model catalog was fetched (-1: never).",
                stats.age_s if stats.age_s is not None else -1.0,
            )
            yield _gauge("pipe_service_catalog_models", "Models offered.", stats.models)
            yield _counter(
                "pipe_service_catalog_fetch_failures", "Failed catalog fetches.", stats.failures
            )
        if src.sessions is not None:
            stats_s = src.sessions()
            yield _gauge("pipe_service_turns_active", "Chat turns running now.", stats_s.active)
            yield _counter(
                "pipe_service_turns_crashed",
                "Turns that ended in an internal error.",
                stats_s.crashed,
            )
        if src.user_breaker is not None:
            ub = src.user_breaker()
            yield _gauge("pipe_service_user_breakers_open", "Users told to slow down now.", ub.open)
            yield _counter(
                "pipe_service_user_breaker_trips",
                "Users whose request breaker opened after repeated failures.",
                ub.trips,
            )
            yield _counter(
                "pipe_service_user_breaker_rejections",
                "Requests refused with 'slow down' by an open user breaker.",
                ub.rejections,
            )
        if src.log_sink is not None:
            log = src.log_sink()
            yield _counter(
                "pipe_service_log_records",
                "Log records accepted by the level filter.",
                log.records,
            )
            yield _counter(
                "pipe_service_log_records_dropped",
                "Log records dropped because the sink's inbox was full.",
                log.dropped,
            )
        if src.persistence_writer is not None:
            yield from _persistence(src.persistence_writer())
        if src.persistence_ready is not None:
            yield _gauge(
                "pipe_service_persistence_ready",
                "1 when artifact storage (schema, keys) is ready.",
                1.0 if src.persistence_ready() else 0.0,
            )
        if src.write_behind is not None:
            yield from _write_behind(src.write_behind())
        if src.flusher is not None:
            yield from _flusher(src.flusher())
        if src.database is not None and src.database.up is not None:
            yield _gauge(
                "pipe_service_database_up",
                "1 when the database answered the last probe.",
                1.0 if src.database.up else 0.0,
            )
            if src.database.ping_s is not None:
                yield _gauge(
                    "pipe_service_database_ping_seconds",
                    "Round trip of the last database probe.",
                    src.database.ping_s,
                )


def _persistence(stats: WriterStatistics) -> Iterator[Family]:
    yield _gauge(
        "pipe_service_persistence_queue_depth",
        "Write batches waiting for the DB writer: the persistence lag, in batches.",
        stats.inbox_depth,
    )
    yield _counter("pipe_service_persistence_commits", "DB writer commits.", stats.commits)
    yield _counter(
        "pipe_service_persistence_failed_commits",
        "DB writer commits that failed.",
        stats.failed_commits,
    )
    yield _counter(
        "pipe_service_persistence_rows_written", "Artifact rows written.", stats.rows_written
    )


def _write_behind(stats: WriteBehindStatistics) -> Iterator[Family]:
    yield _gauge(
        "pipe_service_redis_pending",
        "Entries on the Redis pending list (last seen): what the database has not got yet.",
        stats.pending,
    )
    yield _gauge(
        "pipe_service_redis_pending_over_threshold",
        "1 while the pending list is over redis.pending_warn_threshold (alert on it).",
        1.0 if stats.pending_warning else 0.0,
    )
    yield _gauge(
        "pipe_service_redis_breaker_open",
        "1 while Redis errors send artifact writes straight to the database.",
        1.0 if stats.breaker == "open" else 0.0,
    )
    yield _counter(
        "pipe_service_redis_errors", "Redis errors of the write path.", stats.redis_errors
    )
    yield _counter(
        "pipe_service_redis_direct_writes",
        "Artifact batches written to the database directly (Redis down or its breaker open).",
        stats.direct_writes,
    )


def _flusher(stats: FlusherStatistics) -> Iterator[Family]:
    yield _counter("pipe_service_flusher_commits", "Flusher database commits.", stats.commits)
    yield _counter(
        "pipe_service_flusher_rows", "Artifact rows flushed from Redis.", stats.rows_flushed
    )
    yield _counter(
        "pipe_service_flusher_failed_flushes", "Flushes that failed.", stats.failed_flushes
    )
    yield _counter(
        "pipe_service_flusher_recovered_entries",
        "Entries a stopped flusher had claimed, re-queued.",
        stats.recovered_entries,
    )
    yield _counter(
        "pipe_service_flusher_dropped_entries",
        "Entries dropped: undecodable or refused by the database as data.",
        stats.dropped_entries,
    )
    if stats.last_lag_s is not None:
        yield _gauge(
            "pipe_service_flusher_lag_seconds",
            "Enqueue-to-commit time of the last flushed batch.",
            stats.last_lag_s,
        )


def _admission(stats: AdmissionStatistics) -> Iterator[Family]:
    yield _gauge("pipe_service_admission_slots", "Concurrency slots (limit).", stats.slots)
    yield _gauge("pipe_service_admission_running", "Requests holding a slot.", stats.running)
    yield _gauge("pipe_service_admission_queued", "Requests waiting for a slot.", stats.queued)
    yield _gauge("pipe_service_admission_queue_size", "Queue length limit.", stats.queue_size)
    yield _counter("pipe_service_admission_admitted", "Requests admitted.", stats.admitted)
    yield _counter(
        "pipe_service_admission_refused",
        "Requests refused busy: slots and queue were full.",
        stats.refused,
    )


def _upstream(stats: UpstreamClientStatistics) -> Iterator[Family]:
    yield _counter(
        "pipe_service_upstream_attempts",
        "HTTP attempts to OpenRouter, retries included.",
        stats.requests,
    )
    yield _counter("pipe_service_upstream_retries", "Retried upstream attempts.", stats.retries)
    yield _gauge(
        "pipe_service_upstream_open_streams", "Upstream streams open now.", stats.open_streams
    )
    statuses = CounterMetricFamily(
        "pipe_service_upstream_responses", "Upstream answers by HTTP status.", labels=["status"]
    )
    for status, count in sorted(stats.status_codes.items()):
        statuses.add_metric([str(status)], count)
    yield statuses
    errors = CounterMetricFamily(
        "pipe_service_upstream_errors",
        "Upstream errors surfaced after retries, by kind.",
        labels=["kind"],
    )
    for kind, count in sorted(stats.errors_by_kind.items()):
        errors.add_metric([kind], count)
    yield errors


def _tools(stats: ToolStatistics) -> Iterator[Family]:
    calls = CounterMetricFamily(
        "pipe_service_tool_calls", "Tool calls by outcome.", labels=["outcome"]
    )
    calls.add_metric(["succeeded"], stats.succeeded)
    calls.add_metric(["failed"], stats.failed)
    calls.add_metric(["skipped_by_breaker"], stats.skipped_by_breaker)
    calls.add_metric(["refused_over_queue"], stats.refused_over_queue)
    yield calls
    yield _gauge("pipe_service_tool_calls_in_flight", "Tool calls running now.", stats.in_flight)
    yield _counter(
        "pipe_service_tool_breaker_trips", "Tool breakers that opened.", stats.breaker_trips
    )
    yield _gauge("pipe_service_tool_breakers_open", "Tool breakers open now.", stats.breakers_open)
