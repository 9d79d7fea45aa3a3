"""Render a :class:`BenchReport` as Markdown tables (stdout) and as JSON (``--json``)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pipe_service.bench.results import (
    BenchReport,
    Distribution,
    LevelResult,
    PathResult,
    SidecarCost,
)

_LATENCY_HEADER = (
    "| scenario | streams x rounds | path | TTFT direct p50 / p99 | TTFT via sidecar p50 / p99 "
    "| added TTFT p50 / p95 / p99 | added total p50 | errors direct / via |\n"
    "|---|---|---|---|---|---|---|---|"
)
_COST_HEADER = (
    "| scenario | streams | path | deltas / chunks per stream | deltas/s direct / via "
    "| sidecar CPU | CPU µs per delta / chunk | CPU ms per request "
    "| RSS idle → peak | RSS per stream |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def render_markdown(report: BenchReport) -> str:
    """Two tables: latency (client-visible) and cost (sidecar process), plus the machine."""
    machine = report.machine
    lines = [
        f"Machine: {machine.cpus} CPUs ({machine.cpu_model}), Python {machine.python}, "
        f"load average {_load(machine.load_before)} before, {_load(machine.load_after)} after; "
        f"run took {report.duration_s:.0f} s.",
    ]
    if report.sidecar_settings:
        settings = ", ".join(f"{k}={v}" for k, v in sorted(report.sidecar_settings.items()))
        lines.append(f"Sidecar settings: {settings}.")
    lines += ["", "Latency (ms; added = sidecar - direct, per quantile):", "", _LATENCY_HEADER]
    lines += [_latency_row(level, path) for level in report.levels for path in _paths(level)]
    lines += ["", "Throughput and sidecar cost:", "", _COST_HEADER]
    lines += [_cost_row(level, path) for level in report.levels for path in _paths(level)]
    lines += [f"\nNote: {note}" for note in report.notes]
    return "\n".join(lines)


def write_json(report: BenchReport, path: Path) -> None:
    path.write_text(json.dumps(report_as_json(report), indent=2) + "\n")


def report_as_json(report: BenchReport) -> dict[str, Any]:
    """``asdict`` of the records, plus the derived figures the tables show."""
    body = asdict(report)
    for level, raw in zip(report.levels, body["levels"], strict=True):
        for name in ("baseline", "sidecar", "shim"):
            path: PathResult | None = getattr(level, name)
            if path is not None:
                raw[name].update(
                    ok_streams=path.ok_streams,
                    text_events_per_stream=path.text_events_per_stream,
                    deltas_per_s=path.deltas_per_s,
                )
        for name in ("sidecar", "shim"):
            cost: SidecarCost | None = getattr(level, f"{name}_cost")
            if cost is None:
                continue
            raw[f"{name}_cost"].update(
                cpu_us_per_upstream_delta=cost.cpu_us_per_upstream_delta,
                cpu_us_per_client_chunk=cost.cpu_us_per_client_chunk,
                cpu_ms_per_request=cost.cpu_ms_per_request,
                rss_per_stream_bytes=cost.rss_per_stream_bytes,
            )
            via: PathResult = getattr(level, name)
            raw[f"{name}_added_s"] = {
                metric: {q: level.added(via, metric, q) for q in ("p50", "p95", "p99")}
                for metric in ("first_text", "total")
            }
    return body


_PATH_LABELS = {"sidecar": "OpenAI API", "shim": "shim /v1/pipe"}


def _paths(level: LevelResult) -> list[str]:
    return ["sidecar"] if level.shim is None else ["sidecar", "shim"]


def _latency_row(level: LevelResult, name: str) -> str:
    direct = level.baseline
    via: PathResult = getattr(level, name)
    added = " / ".join(_ms(level.added(via, "first_text", q)) for q in ("p50", "p95", "p99"))
    return (
        f"| {level.scenario} | {level.concurrency} x {level.rounds} | {_PATH_LABELS[name]} "
        f"| {_pair(direct.first_text)} | {_pair(via.first_text)} | {added} "
        f"| {_ms(level.added(via, 'total', 'p50'))} | {direct.errors} / {via.errors} |"
    )


def _cost_row(level: LevelResult, name: str) -> str:
    direct = level.baseline
    via: PathResult = getattr(level, name)
    cost: SidecarCost = getattr(level, f"{name}_cost")
    return (
        f"| {level.scenario} | {level.concurrency} | {_PATH_LABELS[name]} "
        f"| {level.deltas_per_stream} / {via.text_events_per_stream:.1f} "
        f"| {direct.deltas_per_s:,.0f} / {via.deltas_per_s:,.0f} "
        f"| {cost.cpu_s:.2f} s | {_num(cost.cpu_us_per_upstream_delta)} / "
        f"{_num(cost.cpu_us_per_client_chunk)} | {_num(cost.cpu_ms_per_request, '.2f')} "
        f"| {cost.rss_idle_bytes / 2**20:.1f} → {cost.rss_peak_bytes / 2**20:.1f} MB "
        f"| {cost.rss_per_stream_bytes / 1024:.0f} KB |"
    )


def _pair(distribution: Distribution | None) -> str:
    if distribution is None:
        return "-"
    return f"{_ms(distribution.p50)} / {_ms(distribution.p99)}"


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def _num(value: float | None, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


def _load(load: tuple[float, float, float]) -> str:
    return " ".join(f"{value:.2f}" for value in load)
