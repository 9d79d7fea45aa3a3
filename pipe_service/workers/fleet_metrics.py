"""One ``/metrics`` scrape for every worker: each worker's samples labelled ``worker="<index>"``.

A scrape reaches one worker (they share the sockets); that worker asks the supervisor process,
which asks every worker for its metric families (:func:`encode_families`, JSON over the control
channel) and hands them back; the answering worker renders them as one exposition
(:func:`render_fleet`), with the supervisor's view of each worker (answered, process restarts).
Sum over ``worker`` for the service's totals.

Synopsis::

    families = encode_families(registry.collect())            # in each worker
    text = render_fleet(answers)                               # answers: the supervisor's reply
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

WORKER_LABEL = "worker"

EncodedFamily = dict[str, Any]


def encode_families(families: Iterable[Metric]) -> list[EncodedFamily]:
    """Metric families as JSON-ready records (name, help, type, unit, samples)."""
    return [
        {
            "name": family.name,
            "help": family.documentation,
            "type": family.type,
            "unit": family.unit,
            "samples": [
                [sample.name, sample.labels, sample.value, _timestamp(sample.timestamp)]
                for sample in family.samples
            ],
        }
        for family in families
    ]


def render_fleet(workers: Iterable[dict[str, Any]]) -> bytes:
    """The exposition of every worker's families; ``workers`` are the supervisor's entries
    (``index``, ``process_restarts``, and ``families`` when the worker answered)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_FleetCollector(list(workers)))
    return generate_latest(registry)


class _FleetCollector(Collector):
    def __init__(self, workers: list[dict[str, Any]]) -> None:
        self._workers = workers

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        answered = GaugeMetricFamily(
            "pipe_service_worker_answered",
            "1 when this scrape holds the worker's metrics (0: it is starting, restarting or "
            "did not answer in time).",
            labels=[WORKER_LABEL],
        )
        restarts = CounterMetricFamily(
            "pipe_service_worker_process_restarts",
            "Times the supervisor process restarted this worker after it died.",
            labels=[WORKER_LABEL],
        )
        for entry in self._workers:
            worker = str(entry["index"])
            families: list[EncodedFamily] | None = entry.get("families")
            answered.add_metric([worker], 0.0 if families is None else 1.0)
            restarts.add_metric([worker], float(entry.get("process_restarts", 0)))
            for family in families or ():
                metric = merged.get(family["name"])
                if metric is None:
                    metric = Metric(family["name"], family["help"], family["type"], family["unit"])
                    merged[family["name"]] = metric
                for name, labels, value, timestamp in family["samples"]:
                    metric.add_sample(name, {WORKER_LABEL: worker, **labels}, value, timestamp)
        yield answered
        yield restarts
        yield from merged.values()


def _timestamp(value: object) -> float | None:
    if value is None:
        return None
    return float(value)  # type: ignore[arg-type]
