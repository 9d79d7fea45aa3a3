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

from pipe_service.bench.report import render_markdown, summary_rows
from pipe_service.bench.results import BenchReport

START_MARKER = "<!-- bench:latest:start -->"
END_MARKER = "<!-- bench:latest:end -->"
_PATH_NAMES = {"chat_api": "chat API", "responses_api": "Responses API", "shim": "shim"}


class ChartsUnavailableError(RuntimeError):
    """matplotlib is not installed."""


def write_charts(report: BenchReport, out_dir: Path) -> list[Path]:
    """``bench-<scenario>.png`` in ``out_dir`` for each scenario of ``report``."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display on a server
        import matplotlib.pyplot as plt
    except ImportError:
        raise ChartsUnavailableError(
            "charts need matplotlib: pip install 'pipe-service[bench]'"
        ) from None
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
    text = doc.read_text()
    # The markers count on lines of their own (the page may also quote them in prose).
    section = re.compile(
        rf"^{re.escape(START_MARKER)}$.*?^{re.escape(END_MARKER)}$", re.DOTALL | re.MULTILINE
    )
    if section.search(text) is None:
        raise ValueError(f"{doc} has no {START_MARKER} … {END_MARKER} lines to replace between")
    body = [
        START_MARKER,
        f"Latest full run (`{command}`), written by the bench itself:",
        "",
        render_markdown(report),
        "",
        *(f"![{chart.stem}]({chart.name})" for chart in charts),
        END_MARKER,
    ]
    doc.write_text(section.sub(lambda _match: "\n".join(body), text, count=1))


def _values(series: list[dict[str, Any]], key: str) -> list[float]:
    return [_nan(row[key]) for row in series]


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value
