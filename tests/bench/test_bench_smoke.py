"""``pipe-service bench --quick`` end to end: real processes, real sockets, a JSON report.

The run is done once per module (it starts two simulators and two sidecars, about 10 s), then
each test checks one property of the report: its structure, that every number is present and
sane, and that the sidecar relayed the simulator's text. No timing thresholds: the machine is
shared, so only orderings and signs are asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest

QUICK_CONCURRENCY = [1, 2]
QUICK_DELTAS = 20
RUN_LIMIT_S = 120


@dataclass(frozen=True)
class QuickRun:
    report: dict[str, Any]
    stdout: str


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> QuickRun:
    work = tmp_path_factory.mktemp("bench")
    json_path = work / "report.json"
    # Bounded by the subprocess limit: the bench bounds each of its own steps as well.
    finished = subprocess.run(
        [sys.executable, "-m", "pipe_service", "bench", "--quick", "--json", str(json_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=RUN_LIMIT_S,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    return QuickRun(json.loads(json_path.read_text()), finished.stdout)


def _levels(run: QuickRun) -> list[dict[str, Any]]:
    levels: list[dict[str, Any]] = run.report["levels"]
    return levels


def _relayed_paths(level: dict[str, Any]) -> list[str]:
    """The chat and Responses API paths always; the shim path when the sidecar serves it."""
    paths = ["sidecar", "responses"]
    return paths if level["shim"] is None else [*paths, "shim"]


def test_report_has_one_level_per_scenario_and_concurrency(quick_run: QuickRun) -> None:
    pairs = [(level["scenario"], level["concurrency"]) for level in _levels(quick_run)]

    assert pairs == [(s, c) for s in ("paced", "burst") for c in QUICK_CONCURRENCY]


def test_every_stream_on_both_paths_completed(quick_run: QuickRun) -> None:
    for level in _levels(quick_run):
        for path in ["baseline", *_relayed_paths(level)]:
            result = level[path]
            assert result["errors"] == 0, (level["scenario"], path, result["error_kinds"])
            assert result["ok_streams"] == level["concurrency"] * level["rounds"]


def test_sidecar_delivers_every_upstream_delta_in_no_more_chunks(quick_run: QuickRun) -> None:
    for level in _levels(quick_run):
        streams = level["concurrency"] * level["rounds"]
        assert level["deltas_per_stream"] == QUICK_DELTAS
        assert level["baseline"]["text_events"] == QUICK_DELTAS * streams
        for path in _relayed_paths(level):
            assert level[path]["upstream_deltas"] == QUICK_DELTAS * streams
            assert 1 <= level[path]["text_events_per_stream"] <= QUICK_DELTAS


def test_latency_quantiles_are_positive_and_ordered(quick_run: QuickRun) -> None:
    for level in _levels(quick_run):
        for path in ["baseline", *_relayed_paths(level)]:
            first, total = level[path]["first_text"], level[path]["total"]
            assert 0 < first["p50"] <= first["p95"] <= first["p99"] <= first["max"]
            assert first["p50"] <= total["p50"]
            assert first["n"] == total["n"] == level[path]["ok_streams"]


def test_added_latency_is_the_difference_of_quantiles(quick_run: QuickRun) -> None:
    for level in _levels(quick_run):
        for quantile in ("p50", "p95", "p99"):
            expected = (
                level["sidecar"]["first_text"][quantile] - level["baseline"]["first_text"][quantile]
            )
            assert level["sidecar_added_s"]["first_text"][quantile] == pytest.approx(expected)


def test_throughput_is_deltas_over_batch_time(quick_run: QuickRun) -> None:
    for level in _levels(quick_run):
        for path in ["baseline", *_relayed_paths(level)]:
            result = level[path]
            assert result["wall_s"] > 0
            expected = result["upstream_deltas"] / result["wall_s"]
            assert result["deltas_per_s"] == pytest.approx(expected)


def test_sidecar_cpu_and_memory_are_read_from_its_process(quick_run: QuickRun) -> None:
    for level in _levels(quick_run):
        for path in _relayed_paths(level):
            cost = level[f"{path}_cost"]
            assert cost["cpu_s"] >= 0
            assert cost["requests"] == level["concurrency"] * level["rounds"]
            assert cost["client_chunks"] == level[path]["text_events"]
            # A Python process serving HTTP is well above 10 MB and below 2 GB.
            assert 10 * 2**20 < cost["rss_idle_bytes"] <= cost["rss_peak_bytes"] < 2 * 2**30
            assert cost["rss_per_stream_bytes"] >= 0


def test_machine_is_described(quick_run: QuickRun) -> None:
    machine = quick_run.report["machine"]

    assert machine["cpus"] >= 1
    assert len(machine["load_before"]) == len(machine["load_after"]) == 3


def test_markdown_has_a_latency_row_and_a_cost_row_per_level_and_path(
    quick_run: QuickRun,
) -> None:
    paced = [level for level in _levels(quick_run) if level["scenario"] == "paced"]
    paths = sum(len(_relayed_paths(level)) for level in paced)
    rows = [line for line in quick_run.stdout.splitlines() if line.startswith("| paced ")]

    assert len(rows) == 2 * paths
    assert "| scenario | streams x rounds | path |" in quick_run.stdout
    assert "| scenario | streams | path | deltas / chunks per stream |" in quick_run.stdout


SUMMARY_PATHS = {"sidecar": "chat_api", "responses": "responses_api", "shim": "shim"}


def test_summary_has_the_target_figures_per_scenario_concurrency_and_path(
    quick_run: QuickRun,
) -> None:
    rows = {(r["scenario"], r["concurrency"], r["path"]): r for r in quick_run.report["summary"]}
    for level in _levels(quick_run):
        for path in _relayed_paths(level):
            row = rows[(level["scenario"], level["concurrency"], SUMMARY_PATHS[path])]
            added = level[f"{path}_added_s"]["first_text"]
            assert row["added_ttft_p50_ms"] == pytest.approx(added["p50"] * 1000, abs=0.01)
            assert row["added_ttft_p99_ms"] == pytest.approx(added["p99"] * 1000, abs=0.01)
            assert row["cpu_us_per_upstream_delta"] >= 0
            assert row["max_gap_p99_ms"] == pytest.approx(
                level[path]["max_gap"]["p99"] * 1000, abs=0.01
            )
            assert row["errors"] == 0


def test_the_largest_gap_of_a_stream_is_at_most_its_whole_time(quick_run: QuickRun) -> None:
    for level in _levels(quick_run):
        for path in ["baseline", *_relayed_paths(level)]:
            gap, total = level[path]["max_gap"], level[path]["total"]
            assert 0 <= gap["p50"] <= gap["p99"] <= gap["max"] <= total["max"]
