"""One PNG chart per scenario, and the bench's section of ``docs/benchmarks.md`` (``--docs``).

matplotlib is an optional dependency (``pip install 'pipe-service[bench]'``): the runtime never
imports this module, and ``--docs`` without it says how to install it.

Synopsis::

    charts = write_charts(report, Path("docs"))          # docs/bench-paced.png, …
    update_docs(Path("docs/benchmarks.md"), report, charts)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pipe_service.bench.owui_results import OwuiReport
from pipe_service.bench.owui_results import render_markdown as render_owui_markdown
from pipe_service.bench.owui_results import summary_rows as owui_summary_rows
from pipe_service.bench.report import render_markdown, summary_rows
from pipe_service.bench.results import BenchReport

START_MARKER = "<!-- bench:latest:start -->"
END_MARKER = "<!-- bench:latest:end -->"
_PATH_NAMES = {"chat_api": "chat API", "responses_api": "Responses API", "shim": "shim"}


class ChartsUnavailableError(RuntimeError):
    """matplotlib is not installed."""


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display on a server
        import matplotlib.pyplot as plt
    except ImportError:
        raise ChartsUnavailableError(
            "charts need matplotlib: pip install 'pipe-service[bench]'"
        ) from None
    return plt


def write_charts(report: BenchReport, out_dir: Path) -> list[Path]:
    """``bench-<scenario>.png`` in ``out_dir`` for each scenario of ``report``."""
    plt = _pyplot()
    rows = summary_rows(report)
    written = []
    for scenario in dict.fromkeys(row["scenario"] for row in rows):
        mine = [row for row in rows if row["scenario"] == scenario]
        figure, (latency, cpu) = plt.subplots(1, 2, figsize=(11, 4))
        for path, label in _PATH_NAMES.items():
            series = [row for row in mine if row["path"] == path]
            if not series:
                continue
            levels = [row["concurrency"] for row in series]
            latency.plot(
                levels,
                _values(series, "added_ttft_p50_ms"),
                marker="o",
                label=f"{label}: added TTFT p50",
            )
            latency.plot(
                levels,
                _values(series, "max_gap_p99_ms"),
                marker="x",
                linestyle="--",
                label=f"{label}: max gap p99",
            )
            cpu.plot(levels, _values(series, "cpu_us_per_upstream_delta"), marker="o", label=label)
        direct = {row["concurrency"]: row["direct_max_gap_p99_ms"] for row in mine}
        latency.plot(
            list(direct),
            [_nan(v) for v in direct.values()],
            color="grey",
            linestyle=":",
            label="direct: max gap p99",
        )
        latency.set(title=f"{scenario}: latency", xlabel="concurrent streams", ylabel="ms")
        cpu.set(
            title=f"{scenario}: sidecar CPU",
            xlabel="concurrent streams",
            ylabel="µs per upstream delta",
        )
        for axes in (latency, cpu):
            axes.set_xscale("log")
            axes.grid(True, alpha=0.3)
            axes.legend(fontsize=7)
        figure.tight_layout()
        target = out_dir / f"bench-{scenario}.png"
        figure.savefig(target, dpi=90)
        plt.close(figure)
        written.append(target)
    return written


def update_docs(doc: Path, report: BenchReport, charts: list[Path], command: str) -> None:
    """Replace the lines between the markers of ``doc`` with this run's tables and charts."""
    body = [render_markdown(report), "", *(f"![{chart.stem}]({chart.name})" for chart in charts)]
    intro = f"Latest full run (`{command}`), written by the bench itself:"
    replace_section(doc, START_MARKER, END_MARKER, intro, body)


def replace_section(doc: Path, start: str, end: str, intro: str, body: list[str]) -> None:
    """Replace the lines between the ``start`` and ``end`` marker lines of ``doc`` with the
    ``intro`` line (what produced it) and ``body``."""
    text = doc.read_text()
    # The markers count on lines of their own (the page may also quote them in prose).
    section = re.compile(rf"^{re.escape(start)}$.*?^{re.escape(end)}$", re.DOTALL | re.MULTILINE)
    if section.search(text) is None:
        raise ValueError(f"{doc} has no {start} … {end} lines to replace between")
    lines = [start, intro, "", *body, end]
    doc.write_text(section.sub(lambda _match: "\n".join(lines), text, count=1))


OWUI_START_MARKER = "<!-- bench:owui:start -->"
OWUI_END_MARKER = "<!-- bench:owui:end -->"
_OWUI_PATHS = {"shim": "shim + sidecar", "passthrough": "passthrough pipe"}


def write_owui_chart(report: OwuiReport, out_dir: Path) -> Path:
    """``bench-owui.png``: CPU per upstream delta (Open WebUI's, and with the sidecar's) and
    TTFT p50 / largest gap p99, per pipe, against concurrency."""
    plt = _pyplot()
    rows = owui_summary_rows(report)
    figure, (cpu, latency) = plt.subplots(1, 2, figsize=(11, 4))
    for path, label in _OWUI_PATHS.items():
        series = [row for row in rows if row["path"] == path]
        levels = [row["concurrency"] for row in series]
        cpu.plot(
            levels,
            _values(series, "owui_cpu_us_per_delta"),
            marker="o",
            label=f"{label}: Open WebUI",
        )
        if path == "shim":
            cpu.plot(
                levels,
                _values(series, "total_cpu_us_per_delta"),
                marker="x",
                linestyle="--",
                label=f"{label}: Open WebUI + sidecar",
            )
        latency.plot(levels, _values(series, "ttft_p50_ms"), marker="o", label=f"{label}: TTFT p50")
        latency.plot(
            levels,
            _values(series, "max_gap_p99_ms"),
            marker="x",
            linestyle="--",
            label=f"{label}: max gap p99",
        )
    cpu.set(title="Open WebUI: CPU", xlabel="concurrent streams", ylabel="µs per upstream delta")
    latency.set(title="Open WebUI: latency", xlabel="concurrent streams", ylabel="ms")
    for axes in (cpu, latency):
        axes.set_xscale("log")
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=7)
    figure.tight_layout()
    target = out_dir / "bench-owui.png"
    figure.savefig(target, dpi=90)
    plt.close(figure)
    return target


def update_owui_docs(doc: Path, report: OwuiReport, chart: Path, command: str) -> None:
    """Replace the ``bench:owui`` section of ``doc`` with this run's tables and chart."""
    body = [render_owui_markdown(report), "", f"![{chart.stem}]({chart.name})"]
    intro = f"Latest run (`{command}`), written by the bench itself:"
    replace_section(doc, OWUI_START_MARKER, OWUI_END_MARKER, intro, body)


def _values(series: list[dict[str, Any]], key: str) -> list[float]:
    return [_nan(row[key]) for row in series]


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value
