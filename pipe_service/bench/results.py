"""The benchmark's result records and the arithmetic that builds them from stream samples.

All times are seconds in the records (the report converts to ms); CPU figures are per event.
"Added" figures compare distributions, not pairs: added p95 is p95(sidecar) - p95(baseline),
which is not the p95 of per-request differences (there are no pairs to difference).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from pipe_service.bench.streams import StreamSample


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), ``q`` in [0, 100].

    Synopsis::

        percentile([1.0, 2.0, 3.0, 4.0], 50)   # 2.5
    """
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class Distribution:
    """Summary of a set of durations (seconds)."""

    n: int
    p50: float
    p95: float
    p99: float
    mean: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Distribution | None:
        if not values:
            return None
        return cls(
            n=len(values),
            p50=percentile(values, 50),
            p95=percentile(values, 95),
            p99=percentile(values, 99),
            mean=sum(values) / len(values),
            max=max(values),
        )


@dataclass(frozen=True, slots=True)
class PathResult:
    """One path (baseline, sidecar, shim) at one concurrency level, all rounds together.

    ``text_events`` are what the client received: upstream deltas on the baseline, coalesced
    chunks through the sidecar. ``upstream_deltas`` are the simulator deltas whose text arrived
    intact (for the sidecar: complete streams whose text equals the simulator's, times the
    deltas per stream).
    """

    streams: int
    errors: int
    error_kinds: dict[str, int]
    first_text: Distribution | None
    total: Distribution | None
    max_gap: Distribution | None
    """Over streams, of each stream's longest wait between two text events."""
    text_events: int
    upstream_deltas: int
    wall_s: float

    @property
    def ok_streams(self) -> int:
        return self.streams - self.errors

    @property
    def text_events_per_stream(self) -> float:
        return self.text_events / self.ok_streams if self.ok_streams else 0.0

    @property
    def deltas_per_s(self) -> float:
        return self.upstream_deltas / self.wall_s if self.wall_s > 0 else 0.0

    @classmethod
    def of(
        cls,
        samples: Sequence[StreamSample],
        *,
        expected_streams: int,
        reference_text: str,
        deltas_per_stream: int,
        wall_s: float,
    ) -> PathResult:
        errors: Counter[str] = Counter()
        good: list[StreamSample] = []
        for sample in samples:
            if sample.error is not None:
                errors[sample.error] += 1
            elif sample.text != reference_text:
                errors["content mismatch"] += 1
            else:
                good.append(sample)
        missing = expected_streams - len(samples)
        if missing:
            errors["unfinished"] += missing
        return cls(
            streams=expected_streams,
            errors=sum(errors.values()),
            error_kinds=dict(errors),
            first_text=Distribution.of(
                [s.first_text_s for s in good if s.first_text_s is not None]
            ),
            total=Distribution.of([s.total_s for s in good if s.total_s is not None]),
            max_gap=Distribution.of([s.max_gap_s for s in good if s.max_gap_s is not None]),
            text_events=sum(s.text_events for s in good),
            upstream_deltas=len(good) * deltas_per_stream,
            wall_s=wall_s,
        )


@dataclass(frozen=True, slots=True)
class SidecarCost:
    """The sidecar process's resources while its batches ran (baseline batches excluded)."""

    cpu_s: float
    requests: int
    upstream_deltas: int
    client_chunks: int
    rss_idle_bytes: int
    rss_peak_bytes: int
    concurrency: int

    @property
    def cpu_us_per_upstream_delta(self) -> float | None:
        return self.cpu_s * 1e6 / self.upstream_deltas if self.upstream_deltas else None

    @property
    def cpu_us_per_client_chunk(self) -> float | None:
        return self.cpu_s * 1e6 / self.client_chunks if self.client_chunks else None

    @property
    def cpu_ms_per_request(self) -> float | None:
        return self.cpu_s * 1e3 / self.requests if self.requests else None

    @property
    def rss_per_stream_bytes(self) -> float:
        """Peak growth over idle, divided by the streams open at once (can be ~0 when warm)."""
        return max(self.rss_peak_bytes - self.rss_idle_bytes, 0) / self.concurrency


@dataclass(frozen=True, slots=True)
class LevelResult:
    """One scenario at one concurrency level."""

    scenario: str
    concurrency: int
    rounds: int
    deltas_per_stream: int
    baseline: PathResult
    sidecar: PathResult
    sidecar_cost: SidecarCost
    shim: PathResult | None = None
    shim_cost: SidecarCost | None = None
    responses: PathResult | None = None
    """The sidecar's ``/v1/responses`` front (the baseline is the simulator's Responses API)."""
    responses_cost: SidecarCost | None = None

    def added(self, path: PathResult, metric: str, quantile: str) -> float | None:
        """``quantile`` (p50/p95/p99) of ``metric`` (first_text/total) via ``path`` minus direct."""
        ours = getattr(path, metric)
        direct = getattr(self.baseline, metric)
        if ours is None or direct is None:
            return None
        delta: float = getattr(ours, quantile) - getattr(direct, quantile)
        return delta


@dataclass(frozen=True, slots=True)
class Machine:
    cpus: int
    cpu_model: str
    python: str
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(slots=True)
class BenchReport:
    machine: Machine
    sidecar_settings: dict[str, str]
    levels: list[LevelResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    duration_s: float = 0.0
