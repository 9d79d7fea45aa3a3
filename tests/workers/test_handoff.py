"""The handoff line a supervisor process writes to each worker's stdin."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipe_service.worker_pool import worker_count
from pipe_service.workers.handoff import HandoffError, WorkerHandoff


def test_a_handoff_survives_its_line() -> None:
    handoff = WorkerHandoff(
        index=1,
        count=2,
        fds=(5, 6),
        simulator_key="sk-or-sim-x",
        simulator_socket="/s",
        ready_fd=7,
        control_fd=8,
        live_generation=3,
        live={"admission.slots": 8, "chat.fallback_models": ["a/b"]},
    )

    assert WorkerHandoff.decode(handoff.encode()) == handoff


@pytest.mark.parametrize(
    "line", [b"", b"not json\n", b'{"index": 0}\n', b'{"index":0,"count":1,"fds":[]}\n']
)
def test_a_missing_or_broken_handoff_is_refused_clearly(line: bytes) -> None:
    with pytest.raises(HandoffError, match="handoff"):
        WorkerHandoff.decode(line)


def test_the_worker_command_started_by_hand_exits_2_saying_how_workers_start() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "pipe_service", "worker"],
        input=b"",
        capture_output=True,
        check=False,
        timeout=60,
    )

    assert finished.returncode == 2
    assert b"serve --workers" in finished.stderr


def test_zero_workers_means_one_per_cpu_and_others_are_taken_as_given() -> None:
    assert worker_count(0) >= 1
    assert worker_count(3) == 3
