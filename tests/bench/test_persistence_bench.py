"""``pipe-service bench --persistence --quick``: the persistence bench runs end to end on
SQLite and reports every column. No timing thresholds (the machine is shared)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

RUN_LIMIT_S = 120


def test_the_persistence_bench_reports_sqlite_rows_with_every_number() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "pipe_service", "bench", "--persistence", "--quick", "--turns", "8"],
        capture_output=True,
        text=True,
        check=False,
        timeout=RUN_LIMIT_S,
    )
    assert finished.returncode == 0, finished.stderr
    rows = [line for line in finished.stdout.splitlines() if line.startswith("| sqlite")]
    assert len(rows) == 2  # --quick: 1 and 2 producers
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert float(cells[3].replace(",", "")) > 0  # artifacts/s
        for column in cells[4:6]:
            p50, p95, p99 = (float(v) for v in re.findall(r"[\d.]+", column))
            assert 0 < p50 <= p95 <= p99


def test_a_bad_turn_count_is_refused() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "pipe_service", "bench", "--persistence", "--turns", "0"],
        capture_output=True,
        text=True,
        check=False,
        timeout=RUN_LIMIT_S,
    )
    assert finished.returncode == 2
    assert "--turns" in finished.stderr


@pytest.mark.redis
@pytest.mark.skipif(
    not os.environ.get("REDIS_URL"),
    reason="REDIS_URL is not set (CI sets it; locally: REDIS_URL=redis://127.0.0.1:6379/0)",
)
def test_through_redis_the_bench_also_reports_flush_lag_and_drain_time() -> None:
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipe_service",
            "bench",
            "--persistence",
            "--quick",
            "--turns",
            "8",
            "--redis-url",
            os.environ["REDIS_URL"],
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=RUN_LIMIT_S,
    )
    assert finished.returncode == 0, finished.stderr
    rows = [line for line in finished.stdout.splitlines() if line.startswith("| sqlite+redis")]
    assert len(rows) == 2
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert float(cells[3].replace(",", "")) > 0  # artifacts/s acknowledged by Redis
        assert float(cells[6]) >= 0  # max flush lag
        assert float(cells[7]) >= 0  # drain time
