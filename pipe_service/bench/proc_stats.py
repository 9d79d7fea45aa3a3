"""CPU time and resident memory of another process, read from ``/proc`` (Linux only).

CPU is ``utime + stime`` of ``/proc/<pid>/stat`` (all threads of the process), converted from
clock ticks; memory is ``VmRSS`` of ``/proc/<pid>/status``. :class:`RssPeak` samples RSS in the
background while a batch runs, so the peak is "peak-ish": the largest sample, not a true maximum.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import trio

CLOCK_TICKS_PER_S: Final = os.sysconf("SC_CLK_TCK")
# The fields after the ")" that closes the command name: state is [0], utime [11], stime [12].
_UTIME_FIELD: Final = 11
_STIME_FIELD: Final = 12
RSS_SAMPLE_INTERVAL_S: Final = 0.02


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name may contain spaces and parentheses; everything after the last ")" is fixed.
    fields = stat[stat.rindex(")") + 2 :].split()
    ticks = int(fields[_UTIME_FIELD]) + int(fields[_STIME_FIELD])
    return ticks / CLOCK_TICKS_PER_S


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of ``pid`` and its child processes (the workers of ``serve --workers N``).

    A child that ended in between is not counted: read it around work that keeps them alive.
    """
    total = cpu_seconds(pid)
    for child in _children(pid):
        try:
            total += cpu_seconds(child)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # After the command name: state [0], ppid [1].
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
            children.append(int(entry.name))
    return children


def rss_bytes(pid: int) -> int:
    """The process's resident set size now."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise LookupError(f"/proc/{pid}/status has no VmRSS line")


class RssPeak:
    """The largest RSS sampled while :meth:`run` was running.

    Synopsis::

        peak = RssPeak(pid)
        async with trio.open_nursery() as nursery:
            await nursery.start(peak.run)
            await work()
            nursery.cancel_scope.cancel()
        peak.bytes
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.bytes = 0

    def sample(self) -> None:
        self.bytes = max(self.bytes, rss_bytes(self.pid))

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Sample every ``RSS_SAMPLE_INTERVAL_S`` until cancelled."""
        self.sample()
        task_status.started()
        deadline = trio.current_time()
        while True:
            deadline += RSS_SAMPLE_INTERVAL_S
            await trio.sleep_until(deadline)
            self.sample()
