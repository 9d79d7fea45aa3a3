"""A sliding window over the last minute of finished requests, for ``/status`` and ``top``.

Prometheus answers "over time"; an operator at a terminal wants "right now" without one:
requests and errors per second, the error rate, and latency percentiles of the last
``window_s`` seconds. Bounded: at most ``max_entries`` requests are remembered.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class _Finished:
    at: float
    error: bool
    ttft_s: float | None
    duration_s: float
    output_tokens: int


@dataclass(frozen=True)
class RecentStatistics:
    window_s: float
    requests: int
    errors: int
    error_rate: float
    requests_per_s: float
    output_tokens_per_s: float
    ttft_p50_s: float | None
    ttft_p95_s: float | None
    duration_p50_s: float | None
    duration_p95_s: float | None


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class RecentRequests:
    def __init__(self, *, window_s: float = 60.0, max_entries: int = 20_000) -> None:
        self.window_s = window_s
        self._entries: deque[_Finished] = deque(maxlen=max_entries)
        self.totals: Counter[str] = Counter()

    def add(
        self,
        *,
        now: float,
        outcome: str,
        error: bool,
        ttft_s: float | None,
        duration_s: float,
        output_tokens: int,
    ) -> None:
        self.totals[outcome] += 1
        self._entries.append(_Finished(now, error, ttft_s, duration_s, output_tokens))

    def statistics(self, now: float) -> RecentStatistics:
        while self._entries and self._entries[0].at < now - self.window_s:
            self._entries.popleft()
        entries = list(self._entries)
        errors = sum(entry.error for entry in entries)
        ttfts = [entry.ttft_s for entry in entries if entry.ttft_s is not None]
        durations = [entry.duration_s for entry in entries]
        return RecentStatistics(
            window_s=self.window_s,
            requests=len(entries),
            errors=errors,
            error_rate=errors / len(entries) if entries else 0.0,
            requests_per_s=len(entries) / self.window_s,
            output_tokens_per_s=sum(entry.output_tokens for entry in entries) / self.window_s,
            ttft_p50_s=_percentile(ttfts, 0.5),
            ttft_p95_s=_percentile(ttfts, 0.95),
            duration_p50_s=_percentile(durations, 0.5),
            duration_p95_s=_percentile(durations, 0.95),
        )
