"""``bench --owui`` records, tables and JSON: per concurrency, the shim beside the passthrough pipe.

CPU figures are per **upstream delta** (the simulator's, whichever pipe carried it), so the two
pipes compare on the same work: the shim's Open WebUI CPU, the sidecar's, and their total against
the passthrough pipe's Open WebUI CPU (the passthrough has no sidecar).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipe_service.bench.results import Distribution, Machine, PathResult


@dataclass(frozen=True, slots=True)
class OwuiLevel:
    """One pipe (``shim`` or ``passthrough``) at one concurrency level, all rounds together."""

    path: str
    concurrency: int
    rounds: int
    result: PathResult
    owui_cpu_s: float
    sidecar_cpu_s: float | None
    """None for the passthrough pipe (no sidecar on its path)."""

    @property
    def owui_cpu_us_per_delta(self) -> float | None:
        return _per_delta(self.owui_cpu_s, self.result)

    @property
    def sidecar_cpu_us_per_delta(self) -> float | None:
        return None if self.sidecar_cpu_s is None else _per_delta(self.sidecar_cpu_s, self.result)

    @property
    def total_cpu_us_per_delta(self) -> float | None:
        return _per_delta(self.owui_cpu_s + (self.sidecar_cpu_s or 0.0), self.result)

    @property
    def owui_cpu_ms_per_request(self) -> float | None:
        ok = self.result.ok_streams
        return self.owui_cpu_s * 1e3 / ok if ok else None


def _per_delta(cpu_s: float, result: PathResult) -> float | None:
    return cpu_s * 1e6 / result.upstream_deltas if result.upstream_deltas else None


@dataclass(slots=True)
class OwuiReport:
    machine: Machine
    scenario: str
    sidecar_settings: dict[str, str]
    deltas_per_stream: int = 0
    levels: list[OwuiLevel] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    def level(self, path: str, concurrency: int) -> OwuiLevel | None:
        for level in self.levels:
            if level.path == path and level.concurrency == concurrency:
                return level
        return None

    @property
    def concurrency(self) -> list[int]:
        return list(dict.fromkeys(level.concurrency for level in self.levels))


def summary_rows(report: OwuiReport) -> list[dict[str, Any]]:
    """One row per concurrency and pipe: CPU µs per upstream delta (Open WebUI, sidecar, total),
    TTFT p50/p99 and the largest inter-delta gap p99 (ms), chunks per stream, errors."""
    return [
        {
            "concurrency": level.concurrency,
            "path": level.path,
            "owui_cpu_us_per_delta": _round(level.owui_cpu_us_per_delta),
            "sidecar_cpu_us_per_delta": _round(level.sidecar_cpu_us_per_delta),
            "total_cpu_us_per_delta": _round(level.total_cpu_us_per_delta),
            "owui_cpu_ms_per_request": _round(level.owui_cpu_ms_per_request, 2),
            "ttft_p50_ms": _ms(level.result.first_text, "p50"),
            "ttft_p99_ms": _ms(level.result.first_text, "p99"),
            "max_gap_p99_ms": _ms(level.result.max_gap, "p99"),
            "chunks_per_stream": round(level.result.text_events_per_stream, 1),
            "streams": level.result.streams,
            "errors": level.result.errors,
            "error_kinds": level.result.error_kinds,
        }
        for level in report.levels
    ]


def comparison_rows(report: OwuiReport) -> list[dict[str, Any]]:
    """Per concurrency, the shim against the passthrough pipe (the issue's targets): Open WebUI
    CPU ratio (target ≤ 0.5), total CPU ratio (≤ 1), added TTFT p50 (ms; ≤ 3 at one stream)."""
    rows = []
    for concurrency in report.concurrency:
        shim = report.level("shim", concurrency)
        passthrough = report.level("passthrough", concurrency)
        if shim is None or passthrough is None:
            continue
        added = None
        if shim.result.first_text and passthrough.result.first_text:
            added = shim.result.first_text.p50 - passthrough.result.first_text.p50
        rows.append(
            {
                "concurrency": concurrency,
                "owui_cpu_ratio": _ratio(
                    shim.owui_cpu_us_per_delta, passthrough.owui_cpu_us_per_delta
                ),
                "total_cpu_ratio": _ratio(
                    shim.total_cpu_us_per_delta, passthrough.total_cpu_us_per_delta
                ),
                "added_ttft_p50_ms": None if added is None else round(added * 1000, 2),
            }
        )
    return rows


def report_as_json(report: OwuiReport) -> dict[str, Any]:
    return {
        "kind": "owui",
        "scenario": report.scenario,
        "deltas_per_stream": report.deltas_per_stream,
        "machine": {
            "cpus": report.machine.cpus,
            "cpu_model": report.machine.cpu_model,
            "python": report.machine.python,
            "load_before": report.machine.load_before,
            "load_after": report.machine.load_after,
        },
        "sidecar_settings": report.sidecar_settings,
        "duration_s": round(report.duration_s, 1),
        "summary": summary_rows(report),
        "comparison": comparison_rows(report),
        "notes": report.notes,
    }


def write_json(report: OwuiReport, path: Path) -> None:
    path.write_text(json.dumps(report_as_json(report), indent=2) + "\n")


_HEADER = (
    "| streams x rounds | pipe | TTFT p50 / p99 | max gap p99 | chunks per stream "
    "| Open WebUI CPU µs/delta | sidecar CPU µs/delta | total µs/delta "
    "| Open WebUI CPU ms/request | errors |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)
_COMPARISON_HEADER = (
    "| streams | Open WebUI CPU, shim ÷ passthrough (target ≤ 0.5) "
    "| total CPU, shim + sidecar ÷ passthrough (target ≤ 1) "
    "| added TTFT p50, shim - passthrough |\n"
    "|---|---|---|---|"
)


def render_markdown(report: OwuiReport) -> str:
    machine = report.machine
    lines = [
        f"Machine: {machine.cpus} CPUs ({machine.cpu_model}), Python {machine.python}, load "
        f"average {_load(machine.load_before)} before, {_load(machine.load_after)} after; "
        f"scenario {report.scenario} ({report.deltas_per_stream} deltas per stream); "
        f"run took {report.duration_s:.0f} s. Times in ms.",
    ]
    if report.sidecar_settings:
        settings = ", ".join(f"{k}={v}" for k, v in sorted(report.sidecar_settings.items()))
        lines.append(f"Sidecar settings: {settings}.")
    lines += ["", _HEADER]
    for row, level in zip(summary_rows(report), report.levels, strict=True):
        lines.append(
            f"| {row['concurrency']} x {level.rounds} | {row['path']} "
            f"| {_num(row['ttft_p50_ms'], '.1f')} / {_num(row['ttft_p99_ms'], '.1f')} "
            f"| {_num(row['max_gap_p99_ms'], '.1f')} | {row['chunks_per_stream']:.1f} "
            f"| {_num(row['owui_cpu_us_per_delta'])} | {_num(row['sidecar_cpu_us_per_delta'])} "
            f"| {_num(row['total_cpu_us_per_delta'])} "
            f"| {_num(row['owui_cpu_ms_per_request'], '.2f')} | {row['errors']} |"
        )
    lines += ["", _COMPARISON_HEADER]
    for row in comparison_rows(report):
        lines.append(
            f"| {row['concurrency']} | {_num(row['owui_cpu_ratio'], '.2f')} "
            f"| {_num(row['total_cpu_ratio'], '.2f')} | {_num(row['added_ttft_p50_ms'], '.1f')} |"
        )
    lines += [f"\nNote: {note}" for note in report.notes]
    return "\n".join(lines)


def _ms(distribution: Distribution | None, quantile: str) -> float | None:
    if distribution is None:
        return None
    value: float = getattr(distribution, quantile)
    return round(value * 1000, 2)


def _ratio(ours: float | None, theirs: float | None) -> float | None:
    return None if ours is None or not theirs else round(ours / theirs, 3)


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _num(value: float | None, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


def _load(load: tuple[float, float, float]) -> str:
    return " ".join(f"{value:.2f}" for value in load)
