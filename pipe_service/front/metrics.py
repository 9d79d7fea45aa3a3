"""Prometheus exposition of the actors' statistics and the process.

A custom collector reads ``Supervisor.statistics()`` at scrape time, so no actor pays for metrics
on its hot path, and each front gets its own registry (tests can run several in one process).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from quart import Blueprint, Response, current_app

from pipe_service import __version__
from pipe_service.context import ServiceContext

metrics = Blueprint("metrics", __name__)


class ActorCollector(Collector):
    """Scrape-time view of every supervised actor and its inbox."""

    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | InfoMetricFamily]:
        supervisor = self._context.supervisor
        info = InfoMetricFamily("pipe_service_build", "Build and upstream information.")
        info.add_metric(
            [],
            {"version": __version__, "upstream_mode": self._context.upstream_mode},
        )
        yield info
        worker = self._context.details.get("worker")
        if isinstance(worker, dict):
            # With `serve --workers N` a scrape reaches one worker: say which.
            which = InfoMetricFamily("pipe_service_worker", "The worker process that answered.")
            which.add_metric([], {key: str(value) for key, value in worker.items()})
            yield which
        uptime = GaugeMetricFamily("pipe_service_uptime_seconds", "Seconds since start.")
        uptime.add_metric([], supervisor.uptime_s)
        yield uptime

        labels = ["actor"]
        running = GaugeMetricFamily(
            "pipe_service_actor_up", "1 when the actor is running.", labels=labels
        )
        restarts = CounterMetricFamily(
            "pipe_service_actor_restarts", "Restarts after a crash.", labels=labels
        )
        depth = GaugeMetricFamily(
            "pipe_service_inbox_depth", "Messages waiting in the actor's inbox.", labels=labels
        )
        capacity = GaugeMetricFamily(
            "pipe_service_inbox_capacity", "Size of the actor's inbox.", labels=labels
        )
        processed = CounterMetricFamily(
            "pipe_service_inbox_processed", "Messages taken from the inbox.", labels=labels
        )
        dropped = CounterMetricFamily(
            "pipe_service_inbox_dropped", "Messages dropped by a full inbox.", labels=labels
        )
        rejected = CounterMetricFamily(
            "pipe_service_inbox_rejected", "Messages refused by a full inbox.", labels=labels
        )
        for stats in supervisor.statistics():
            name = [stats.name]
            running.add_metric(name, 1.0 if stats.state == "running" else 0.0)
            restarts.add_metric(name, stats.restarts)
            if stats.inbox is not None:
                depth.add_metric(name, stats.inbox.depth)
                capacity.add_metric(name, stats.inbox.size)
                processed.add_metric(name, stats.inbox.processed)
                dropped.add_metric(name, stats.inbox.dropped)
                rejected.add_metric(name, stats.inbox.rejected)
        yield from (running, restarts, depth, capacity, processed, dropped, rejected)


def build_registry(context: ServiceContext) -> CollectorRegistry:
    """The service's registry (request metrics and collectors) plus the actors' view."""
    registry = context.metrics_registry or CollectorRegistry(auto_describe=False)
    registry.register(ActorCollector(context))
    return registry


@metrics.get("/metrics")
async def metrics_endpoint() -> Response:
    context: ServiceContext = current_app.config["SERVICE_CONTEXT"]
    for probe in context.scrape_probes:
        await probe()
    registry: CollectorRegistry = current_app.config["METRICS_REGISTRY"]
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
