"""Prometheus exposition of the actors' statistics and the process.

A custom collector reads ``Supervisor.statistics()`` at scrape time, so no actor pays for metrics
on its hot path, and each front gets its own registry (tests can run several in one process).
With several workers a scrape answers for all of them: the answering worker gathers every
worker's families through the supervisor process and labels each sample ``worker="<index>"``
(:mod:`pipe_service.workers.fleet_metrics`).
"""

from __future__ import annotations

from collections.abc import Iterator

import trio
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from quart import Blueprint, Response, current_app

from pipe_service import __version__
from pipe_service.context import ServiceContext
from pipe_service.workers.control import ControlCallFailedError, ControlChannelClosedError
from pipe_service.workers.fleet_metrics import EncodedFamily, encode_families, render_fleet
from pipe_service.workers.supervisor_link import FORWARD_LIMIT_S

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
            which = InfoMetricFamily("pipe_service_worker", "This worker process.")
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
    registry: CollectorRegistry = current_app.config["METRICS_REGISTRY"]
    if context.control is not None:
        return await _fleet_metrics(context)
    for probe in context.scrape_probes:
        await probe()
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


async def own_metric_families(
    context: ServiceContext, registry: CollectorRegistry
) -> list[EncodedFamily]:
    """This process's metric families, scrape probes first (what a worker hands its
    supervisor process for a scrape of every worker)."""
    for probe in context.scrape_probes:
        await probe()
    return encode_families(registry.collect())


async def _fleet_metrics(context: ServiceContext) -> Response:
    assert context.control is not None
    try:
        with trio.fail_after(FORWARD_LIMIT_S):
            gathered = await context.control.call({"op": "metrics"})
    except trio.TooSlowError:
        error = f"the supervisor process did not answer within {FORWARD_LIMIT_S:.0f} s"
        return Response(error + "\n", status=504, content_type="text/plain")
    except (ControlChannelClosedError, ControlCallFailedError) as exc:
        error = f"the supervisor process could not be asked: {exc}"
        return Response(error + "\n", status=503, content_type="text/plain")
    return Response(render_fleet(gathered["workers"]), content_type=CONTENT_TYPE_LATEST)
