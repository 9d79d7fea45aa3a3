"""``pipe-service bench --owui`` end to end: a real Open WebUI, the shim + sidecar and the
passthrough pipe against one simulator, at one stream of the quick pacing (20 deltas).

The bench starts its own Open WebUI (not the suite's ``stack``): what is checked is its plumbing
(processes, admin, both Functions installed, streams through ``/api/chat/completions``, CPU read
from ``/proc``), so every figure it reports must be there and positive. The figures themselves
are measurements (docs/benchmarks.md), never asserted against targets here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

BENCH_S = 600.0
PER_PIPE = ("owui_cpu_us_per_delta", "total_cpu_us_per_delta", "owui_cpu_ms_per_request")
LATENCY = ("ttft_p50_ms", "ttft_p99_ms")


def test_the_owui_bench_reports_every_figure_for_both_pipes(
    owui_venv: Path, tmp_path: Path
) -> None:
    command = [sys.executable, "-m", "pipe_service", "bench", "--owui", "--quick"]
    command += ["--concurrency", "1", "--rounds", "3", "--json", "--work-dir", str(tmp_path)]
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIPE_SERVICE_")}
    result = subprocess.run(
        command,
        env=env | {"OWUI_VENV": str(owui_venv)},
        capture_output=True,
        text=True,
        timeout=BENCH_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)

    assert report["kind"] == "owui"
    assert report["deltas_per_stream"] == 20
    rows = {row["path"]: row for row in report["summary"]}
    assert set(rows) == {"shim", "passthrough"}
    for path, row in rows.items():
        assert row["concurrency"] == 1
        assert row["errors"] == 0, row["error_kinds"]
        assert row["chunks_per_stream"] > 0
        for key in (*PER_PIPE, *LATENCY):
            assert (row[key] or 0) > 0, (path, key, row)
        assert (row["max_gap_p99_ms"] or 0) > 0, (path, row)  # deltas are 5 ms apart
    assert rows["shim"]["sidecar_cpu_us_per_delta"] > 0
    assert rows["passthrough"]["sidecar_cpu_us_per_delta"] is None
    (comparison,) = report["comparison"]
    assert comparison["concurrency"] == 1
    assert comparison["owui_cpu_ratio"] > 0
    assert comparison["total_cpu_ratio"] > 0
