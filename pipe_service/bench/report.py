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
    "| added TTFT p50 / p95 / p99 | added total p50 | max gap p99 direct / via "
    "| errors direct / via |\n"
    "|---|---|---|---|---|---|---|---|---|"
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
    """``asdict`` of the records, plus the derived figures the tables show; ``summary`` holds
    the target figures per path and concurrency (:func:`summary_rows`)."""
    body = asdict(report)
    body["summary"] = summary_rows(report)
    for level, raw in zip(report.levels, body["levels"], strict=True):
        for name in ("baseline", "sidecar", "responses", "shim"):
            path: PathResult | None = getattr(level, name)
            if path is not None:
                raw[name].update(
                    ok_streams=path.ok_streams,
                    text_events_per_stream=path.text_events_per_stream,
                    deltas_per_s=path.deltas_per_s,
                )
        for name in ("sidecar", "responses", "shim"):
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


_PATH_LABELS = {"sidecar": "OpenAI API", "responses": "Responses API", "shim": "shim /v1/pipe"}
_SUMMARY_PATHS = {"sidecar": "chat_api", "responses": "responses_api", "shim": "shim"}


def _paths(level: LevelResult) -> list[str]:
    return [name for name in ("sidecar", "responses", "shim") if getattr(level, name) is not None]


def summary_rows(report: BenchReport) -> list[dict[str, Any]]:
    """One row per scenario, concurrency and path with the issue's target figures (ms, µs).

    ``max_gap_p99_ms`` is the p99 over streams of each stream's longest wait between two text
    events; ``direct_max_gap_p99_ms`` is the same on the direct path, for comparison.
    """
    rows: list[dict[str, Any]] = []
    for level in report.levels:
        for name in _paths(level):
            via: PathResult = getattr(level, name)
            cost: SidecarCost = getattr(level, f"{name}_cost")
            rows.append(
                {
                    "scenario": level.scenario,
                    "concurrency": level.concurrency,
                    "path": _SUMMARY_PATHS[name],
                    "added_ttft_p50_ms": _round_ms(level.added(via, "first_text", "p50")),
                    "added_ttft_p99_ms": _round_ms(level.added(via, "first_text", "p99")),
                    "cpu_us_per_upstream_delta": _round(cost.cpu_us_per_upstream_delta),
                    "max_gap_p99_ms": _round_ms(via.max_gap.p99 if via.max_gap else None),
                    "direct_max_gap_p99_ms": _round_ms(
                        level.baseline.max_gap.p99 if level.baseline.max_gap else None
                    ),
                    "errors": via.errors,
                }
            )
    return rows


def _round_ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _latency_row(level: LevelResult, name: str) -> str:
    direct = level.baseline
    via: PathResult = getattr(level, name)
    added = " / ".join(_ms(level.added(via, "first_text", q)) for q in ("p50", "p95", "p99"))
    return (
        f"| {level.scenario} | {level.concurrency} x {level.rounds} | {_PATH_LABELS[name]} "
        f"| {_pair(direct.first_text)} | {_pair(via.first_text)} | {added} "
        f"| {_ms(level.added(via, 'total', 'p50'))} "
        f"| {_ms(_p99(direct.max_gap))} / {_ms(_p99(via.max_gap))} "
        f"| {direct.errors} / {via.errors} |"
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


def _p99(distribution: Distribution | None) -> float | None:
    return None if distribution is None else distribution.p99


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
