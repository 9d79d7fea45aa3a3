"""``pipe-service bench``: the argparse glue (the command itself is :func:`run_bench`).

The lead's ``pipe_service/cli.py`` calls :func:`add_bench_command` while building its parser
and dispatches ``bench`` to :func:`run_bench_command` before loading any settings (the bench
configures the sidecar it starts, not itself).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from pipe_service.bench.owui_results import OwuiReport
    from pipe_service.bench.results import BenchReport

Progress = Callable[[str], None]
R = TypeVar("R")


def add_bench_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``bench`` and its options on the ``pipe-service`` subparsers."""
    bench = subparsers.add_parser(
        "bench",
        help="measure what the sidecar adds over a direct connection to the simulator",
        description="Start the simulator and a sidecar as child processes, stream through "
        "both, and report added latency, throughput, sidecar CPU per event and RSS per stream.",
    )
    bench.add_argument(
        "--concurrency",
        type=_positive_ints,
        default=None,
        metavar="N,N,…",
        help="concurrent streams per level (default 1,16,64; --quick: 1,2)",
    )
    bench.add_argument(
        "--rounds", type=int, default=None, help="rounds per level (default 3; --quick: 1)"
    )
    bench.add_argument(
        "--scenarios",
        type=lambda text: tuple(name.strip() for name in text.split(",") if name.strip()),
        default=("paced", "burst"),
        metavar="NAME,…",
        help="paced (200 ms to first token, 20 ms between 100 deltas) and/or burst (200 deltas, "
        "no delays)",
    )
    bench.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="the sidecar's serve --workers (default 1; CPU is summed over all workers, RSS is "
        "one worker's)",
    )
    bench.add_argument(
        "--quick", action="store_true", help="a tiny run: 20 deltas per stream, seconds long"
    )
    bench.add_argument(
        "--json",
        type=Path,
        nargs="?",
        const=Path("-"),
        default=None,
        metavar="PATH",
        help="write the JSON report to PATH; without PATH print it to stdout instead of the "
        "Markdown tables (its 'summary' has added_ttft_p50_ms, added_ttft_p99_ms, "
        "cpu_us_per_upstream_delta and max_gap_p99_ms per scenario, concurrency and path)",
    )
    bench.add_argument(
        "--docs",
        type=Path,
        default=None,
        metavar="FILE",
        help="also write the tables into FILE (docs/benchmarks.md, between its bench:latest "
        "markers) and one PNG chart per scenario beside it (needs the 'bench' extra)",
    )
    bench.add_argument(
        "--set",
        dest="sidecar_settings",
        action="append",
        default=[],
        metavar="SETTING=VALUE",
        help="a sidecar setting, e.g. streaming.flush_interval_s=0 (repeatable)",
    )
    bench.add_argument(
        "--persistence",
        action="store_true",
        help="instead: the persistence bench (artifacts/s, time added at the end of a stream) "
        "on SQLite, and on PostgreSQL with --database-url",
    )
    bench.add_argument(
        "--database-url",
        default=None,
        help="with --persistence: a PostgreSQL URL (a throw-away schema is created there)",
    )
    bench.add_argument(
        "--redis-url",
        default=None,
        help="with --persistence: also measure every backend through the Redis write-behind "
        "(a throw-away key prefix is used and deleted)",
    )
    bench.add_argument(
        "--turns", type=int, default=None, help="with --persistence: turns per level (400)"
    )
    bench.add_argument(
        "--hostile-memory",
        action="store_true",
        help="instead: RSS of a sidecar under four 30 MiB chats at once, per byte budget",
    )
    bench.add_argument(
        "--owui",
        action="store_true",
        help="instead: a real Open WebUI 0.12.4 with the shim + sidecar and with a passthrough "
        "pipe, against the same simulator: Open WebUI's and the sidecar's CPU per upstream "
        "delta, TTFT and the largest gap at 1, 20, 50 paced streams (--quick: 1, 2)",
    )
    bench.add_argument(
        "--owui-venv",
        type=Path,
        default=None,
        metavar="DIR",
        help="with --owui: the Open WebUI venv of scripts/owui_venv.sh (default $OWUI_VENV, "
        "else ~/.cache/pipe-service/owui-0.12.4)",
    )
    bench.add_argument(
        "--owui-pipes",
        type=lambda text: tuple(name.strip() for name in text.split(",") if name.strip()),
        default=None,
        metavar="NAME,…",
        help="with --owui: shim and/or passthrough (default both; one alone to profile it)",
    )
    bench.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="keep the sidecar var dirs and process logs here (default: a temporary directory)",
    )


def run_bench_command(args: argparse.Namespace) -> int:
    """Run the benchmark; print Markdown to stdout and progress to stderr. Exit 0, or 2 on
    a bad option, or 1 when a process could not be started."""
    if args.persistence:
        return _run_persistence_bench(args)

    from pipe_service.bench.plan import BenchPlan, default_plan, quick_plan
    from pipe_service.bench.report import render_markdown, report_as_json, write_json
    from pipe_service.bench.runner import run_bench

    if args.hostile_memory:
        return _run_hostile_memory(args)
    if args.owui:
        return _run_owui(args)
    try:
        plan = (
            quick_plan(scenario_names=args.scenarios)
            if args.quick
            else default_plan(scenario_names=args.scenarios)
        )
        plan = BenchPlan(
            scenarios=plan.scenarios,
            concurrency=args.concurrency or plan.concurrency,
            rounds=args.rounds or plan.rounds,
            warmup_streams=plan.warmup_streams,
            idle_sample_s=plan.idle_sample_s,
            workers=args.workers,
            sidecar_settings=_sidecar_settings(args),
        )
    except ValueError as exc:
        print(f"pipe-service bench: {exc}", file=sys.stderr)
        return 2
    return _run_and_report(
        args,
        lambda progress: run_bench(plan, work_dir=args.work_dir, progress=progress),
        _ReportOutput(render_markdown, report_as_json, write_json, _bench_docs),
    )


def _bench_docs(report: BenchReport, doc: Path) -> str:
    """The tables into the page, one chart per scenario beside it."""
    from pipe_service.bench.charts import update_docs, write_charts

    charts = write_charts(report, doc.parent)
    update_docs(doc, report, charts, "pipe-service " + " ".join(sys.argv[1:]))
    return f"tables and {len(charts)} chart(s)"


def _run_owui(args: argparse.Namespace) -> int:
    """``--owui``: Markdown (or ``--json``) on stdout, ``--docs`` writes its section and chart."""
    from pipe_service.bench.owui import OwuiPlan, owui_plan, run_owui_bench
    from pipe_service.bench.owui_process import owui_venv
    from pipe_service.bench.owui_results import render_markdown, report_as_json, write_json

    scenario = args.scenarios[0] if len(args.scenarios) == 1 else "paced"
    try:
        plan = owui_plan(
            quick=args.quick, venv=args.owui_venv or owui_venv(), scenario_name=scenario
        )
        plan = OwuiPlan(
            scenario=plan.scenario,
            concurrency=args.concurrency or plan.concurrency,
            rounds=args.rounds or plan.rounds,
            warmup_streams=plan.warmup_streams,
            idle_sample_s=plan.idle_sample_s,
            venv=plan.venv,
            paths=args.owui_pipes or plan.paths,
            sidecar_settings=_sidecar_settings(args),
        )
    except ValueError as exc:
        print(f"pipe-service bench: {exc}", file=sys.stderr)
        return 2
    return _run_and_report(
        args,
        lambda progress: run_owui_bench(plan, work_dir=args.work_dir, progress=progress),
        _ReportOutput(render_markdown, report_as_json, write_json, _owui_docs),
    )


def _owui_docs(report: OwuiReport, doc: Path) -> str:
    """The ``bench:owui`` section of the page and its chart."""
    from pipe_service.bench.charts import update_owui_docs, write_owui_chart

    chart = write_owui_chart(report, doc.parent)
    update_owui_docs(doc, report, chart, "pipe-service " + " ".join(sys.argv[1:]))
    return f"tables and {chart.name}"


@dataclass(frozen=True)
class _ReportOutput(Generic[R]):
    """How one kind of report is printed, saved as JSON and written into the docs."""

    markdown: Callable[[R], str]
    as_json: Callable[[R], Any]
    write_json: Callable[[R, Path], None]
    write_docs: Callable[[R, Path], str]  # what it wrote, for the progress line


def _run_and_report(
    args: argparse.Namespace,
    run: Callable[[Progress], Awaitable[R]],
    output: _ReportOutput[R],
) -> int:
    """Run a bench under trio with progress on stderr, then print its report (``--json -``:
    JSON on stdout), save ``--json`` and write ``--docs``. Exit 1 when a process could not
    be started or the docs could not be written."""
    import trio

    from pipe_service.bench.processes import BenchSetupError

    if args.work_dir is not None:
        args.work_dir.mkdir(parents=True, exist_ok=True)

    def progress(message: str) -> None:
        print(f"bench: {message}", file=sys.stderr, flush=True)

    report: R | None = None
    try:
        report = trio.run(run, progress)
    except* BenchSetupError as group:
        for error in group.exceptions:
            print(f"pipe-service bench: {error}", file=sys.stderr)
    if report is None:
        return 1
    if args.json == Path("-"):
        print(json.dumps(output.as_json(report), indent=2))
    else:
        print(output.markdown(report))
        if args.json is not None:
            output.write_json(report, args.json)
            progress(f"JSON written to {args.json}")
    if args.docs is None:
        return 0
    from pipe_service.bench.charts import ChartsUnavailableError

    try:
        written = output.write_docs(report, args.docs)
    except (ChartsUnavailableError, ValueError, OSError) as exc:
        print(f"pipe-service bench: {exc}", file=sys.stderr)
        return 1
    progress(f"{written} written to {args.docs}")
    return 0


def _sidecar_settings(args: argparse.Namespace) -> dict[str, str]:
    """``--set SETTING=VALUE`` options as the sidecar's environment variables."""
    from pipe_service.config.loading import env_name

    return {
        env_name(name.strip()): value
        for name, value in (_setting(text) for text in args.sidecar_settings)
    }


def _run_hostile_memory(args: argparse.Namespace) -> int:
    import trio

    from pipe_service.bench.hostile_memory import render, run_hostile_memory
    from pipe_service.bench.processes import BenchSetupError

    def progress(message: str) -> None:
        print(f"bench: {message}", file=sys.stderr, flush=True)

    rows = None
    try:
        rows = trio.run(lambda: run_hostile_memory(args.work_dir, progress))
    except* BenchSetupError as group:
        for error in group.exceptions:
            print(f"pipe-service bench: {error}", file=sys.stderr)
    if rows is None:
        return 1
    print(render(rows))
    return 0


def _positive_ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"need positive integers: {text!r}")
    return values


def _setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"--set wants SETTING=VALUE, got {text!r}")
    return name, value


def _run_persistence_bench(args: argparse.Namespace) -> int:
    import trio

    from pipe_service.bench.persistence import render_persistence_markdown, run_persistence_bench

    turns = args.turns if args.turns is not None else (40 if args.quick else 400)
    if turns < 1:
        print("pipe-service bench: --turns must be at least 1", file=sys.stderr)
        return 2

    def progress(message: str) -> None:
        print(f"bench: {message}", file=sys.stderr, flush=True)

    results = trio.run(
        lambda: run_persistence_bench(
            database_url=args.database_url,
            redis_url=args.redis_url,
            turns=turns,
            concurrency=args.concurrency or ((1, 2) if args.quick else (1, 16)),
            progress=progress,
        )
    )
    print(render_persistence_markdown(results))
    return 0
