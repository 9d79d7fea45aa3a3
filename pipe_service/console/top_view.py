"""``pipe-service top``: a live view of streams, rates and latency, refreshed in place.

Each refresh reads ``/status``; rates between two refreshes come from the request totals,
latency percentiles from the sidecar's last-minute window. With several workers the numbers are
every worker's added up (:mod:`pipe_service.console.whole_service`; latency: the slowest
worker's), whichever worker answered. Ctrl-C quits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from pipe_service.console.status_view import milliseconds
from pipe_service.console.whole_service import whole_service


class TopModel:
    """Turns successive ``/status`` answers into what ``top`` shows."""

    def __init__(self) -> None:
        self._last_total: int | None = None
        self._last_at: float | None = None
        self.rate: float = 0.0

    def update(self, status: dict[str, Any], now: float) -> None:
        totals = whole_service(status).get("requests", {}).get("totals", {})
        total = sum(int(count) for count in totals.values())
        if self._last_total is not None and self._last_at is not None and now > self._last_at:
            self.rate = (total - self._last_total) / (now - self._last_at)
        self._last_total, self._last_at = total, now

    def render(self, status: dict[str, Any]) -> RenderableType:
        status = whole_service(status)
        requests = status.get("requests", {})
        recent = requests.get("recent", {})
        admission = status.get("admission", {})
        upstream = status.get("upstream_client", {})
        table = Table(title="pipe-service top (Ctrl-C quits)", title_justify="left")
        table.add_column("metric")
        table.add_column("now", justify="right")
        rows = [
            ("streams in flight", str(requests.get("streams_in_flight", 0))),
            ("requests in flight", str(requests.get("in_flight", 0))),
            ("requests/s (since last refresh)", f"{self.rate:.2f}"),
            ("requests/s (last minute)", f"{float(recent.get('requests_per_s', 0)):.2f}"),
            ("error rate (last minute)", f"{float(recent.get('error_rate', 0)):.1%}"),
            (
                "time to first token p50 / p95",
                _pair(recent, "ttft_p50_s", "ttft_p95_s"),
            ),
            (
                "duration p50 / p95",
                _pair(recent, "duration_p50_s", "duration_p95_s"),
            ),
            ("output tokens/s", f"{float(recent.get('output_tokens_per_s', 0)):.1f}"),
            (
                "slots running / limit",
                f"{admission.get('running', '-')} / {admission.get('slots', '-')}",
            ),
            (
                "queued / limit",
                f"{admission.get('queued', '-')} / {admission.get('queue_size', '-')}",
            ),
            ("upstream streams open", str(upstream.get("open_streams", "-"))),
        ]
        if "workers_answered" in status:
            rows.append(("workers answering", str(status["workers_answered"])))
        for name, value in rows:
            table.add_row(name, value)
        totals = requests.get("totals", {})
        outcome_line = "  ".join(f"{name} {count}" for name, count in sorted(totals.items()))
        return Group(table, Text(f"totals: {outcome_line or 'none yet'}"))


def _pair(recent: dict[str, Any], first: str, second: str) -> str:
    return f"{milliseconds(recent.get(first))} / {milliseconds(recent.get(second))}"


def run_top(
    read_status: Callable[[], dict[str, Any]],
    *,
    console: Console,
    interval_s: float,
    iterations: int | None,
) -> None:
    """Refresh every ``interval_s`` until Ctrl-C (or ``iterations`` refreshes, for scripts)."""
    model = TopModel()
    status = read_status()
    model.update(status, time.monotonic())
    count = 1
    with Live(model.render(status), console=console, auto_refresh=False) as live:
        try:
            while iterations is None or count < iterations:
                time.sleep(interval_s)
                status = read_status()
                model.update(status, time.monotonic())
                live.update(model.render(status), refresh=True)
                count += 1
        except KeyboardInterrupt:
            pass
