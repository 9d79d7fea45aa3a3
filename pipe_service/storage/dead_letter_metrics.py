"""Dead-letter metrics: letters written, retried and pending, read from the table's counters at
scrape time (so retries done by ``pipe-service dlq retry`` in another process count too).

Synopsis::

    health = DeadLetterHealth()
    registry.register(DeadLetterCollector(health))
    context.scrape_probes.append(partial(probe_dead_letters, letters, health))
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import trio
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from pipe_service.storage.dead_letters import DeadLetterCounts, DeadLetters

logger = logging.getLogger("pipe_service.storage.dead_letters")

PROBE_LIMIT_S = 5.0  # a /metrics scrape waits this long for the dead-letter table at most


@dataclass
class DeadLetterHealth:
    """The last reading of the dead-letter table (refreshed before each scrape)."""

    counts: DeadLetterCounts | None = None
    up: bool | None = None
    read_at: float | None = None


async def probe_dead_letters(letters: DeadLetters, health: DeadLetterHealth) -> None:
    """Read the counts (bounded); a failure is a metric value, never a failed scrape."""
    with trio.move_on_after(PROBE_LIMIT_S):
        try:
            health.counts = await letters.counts()
        except Exception as exc:
            logger.warning("dead-letter probe failed: %s", type(exc).__name__)
            health.up = False
            return
        health.up, health.read_at = True, time.time()
        return
    health.up = False


class DeadLetterCollector(Collector):
    """``pipe_service_dead_letters_*`` from the last probe."""

    def __init__(self, health: DeadLetterHealth) -> None:
        self._health = health

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        health = self._health
        if health.up is not None:
            up = GaugeMetricFamily(
                "pipe_service_dead_letters_store_up",
                "1 when the dead-letter table answered the last probe.",
            )
            up.add_metric([], 1.0 if health.up else 0.0)
            yield up
        counts = health.counts
        if counts is None:
            return
        for name, doc, value in (
            ("written", "Dead letters written (items not persisted).", counts.written),
            ("retried", "Dead letters retried successfully (and removed).", counts.retried),
            ("retry_failures", "Dead-letter retries that failed again.", counts.retry_failed),
            ("purged", "Dead letters deleted by purge or the cleanup.", counts.purged),
        ):
            family = CounterMetricFamily(f"pipe_service_dead_letters_{name}", doc)
            family.add_metric([], value)
            yield family
        pending = GaugeMetricFamily(
            "pipe_service_dead_letters_pending", "Dead letters waiting for retry or purge."
        )
        pending.add_metric([], counts.pending)
        yield pending
        oldest = GaugeMetricFamily(
            "pipe_service_dead_letters_oldest_age_seconds",
            "Age of the oldest dead letter (0: none).",
        )
        age = 0.0
        if counts.oldest_first_failed_at is not None:
            age = max(0.0, (health.read_at or time.time()) - counts.oldest_first_failed_at)
        oldest.add_metric([], age)
        yield oldest
