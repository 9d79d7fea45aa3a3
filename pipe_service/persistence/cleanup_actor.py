"""The cleanup actor: delete artifacts nobody replayed for ``retention_days``, on a schedule.

Runs at fixed deadlines (``trio.sleep_until``), so the schedule does not drift by the time the
deletes take. Each run deletes in transactions of ``cleanup_batch`` rows until nothing is left,
so a large backlog never holds one long lock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import NoReturn

import trio

from pipe_service.storage.artifact_store import delete_not_accessed_since
from pipe_service.storage.bootstrap import ArtifactStorage
from pipe_service.storage.engine import Database

logger = logging.getLogger("pipe_service.persistence.cleanup")

SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True)
class CleanupPolicy:
    retention_days: float
    interval_s: float
    batch: int


@dataclass(slots=True)
class CleanupStatistics:
    """Counters for /status; ``last_run_at`` is the trio time the last run started."""

    runs: int = 0
    finished_runs: int = 0
    deleted: int = 0
    failures: int = 0
    last_error: str | None = None
    last_run_at: float | None = None
    _finished: trio.Event = field(default_factory=trio.Event, repr=False)

    def _run_finished(self) -> None:
        self.finished_runs += 1
        self._finished.set()
        self._finished = trio.Event()

    async def wait_finished_runs(self, count: int) -> None:
        """Wait until ``count`` runs have finished (tests and drills)."""
        while self.finished_runs < count:
            await self._finished.wait()

    def as_dict(self) -> dict[str, object]:
        return {
            "runs": self.runs,
            "deleted": self.deleted,
            "failures": self.failures,
            "last_error": self.last_error,
            "last_run_at": self.last_run_at,
        }


async def run(
    storage: ArtifactStorage,
    policy: CleanupPolicy,
    stats: CleanupStatistics,
    *,
    wall_clock: Callable[[], float] = time.time,
    task_status: trio.TaskStatus[CleanupStatistics] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """Every ``policy.interval_s`` (first run at once), delete rows whose last access is older
    than ``policy.retention_days`` (by ``wall_clock``, unix seconds).

    Consumes nothing; produces deletions. ``started()`` returns the statistics record (also
    owned by the caller, so counts survive restarts).

    **Resource handling:** uses ``storage``'s database (owned by the service); holds nothing
    between runs. Runs are skipped until ``storage`` is ready (the schema may not exist yet).
    Cancelled at shutdown (it is a sink without an inbox): an interrupted run loses nothing, a
    delete either committed or did not.

    **Error handling:** a failed run is logged and counted, and the next run comes at its
    normal time; the database being down must not stop the service.
    """
    task_status.started(stats)
    deadline = trio.current_time()
    while True:
        await trio.sleep_until(deadline)
        now = trio.current_time()
        # Next deadline on the fixed grid; deadlines missed (a run longer than the interval,
        # a suspended host) are skipped rather than run back to back.
        while deadline <= now:
            deadline += policy.interval_s
        if policy.retention_days <= 0 or not storage.ready:
            continue
        cutoff = wall_clock() - policy.retention_days * SECONDS_PER_DAY
        stats.runs += 1
        stats.last_run_at = now
        try:
            stats.deleted += await delete_all_before(storage.database, cutoff, batch=policy.batch)
        except Exception as exc:
            stats.failures += 1
            stats.last_error = f"{type(exc).__name__}: {str(exc)[:200]}"
            logger.warning("artifact cleanup failed", extra={"error": stats.last_error})
        stats._run_finished()


async def delete_all_before(database: Database, cutoff: float, *, batch: int) -> int:
    """Delete every row last accessed before ``cutoff`` in batches; returns how many."""
    total = 0
    while True:
        deleted = await database.run_sync(
            partial(delete_not_accessed_since, cutoff=cutoff, limit=batch)
        )
        total += deleted
        if deleted < batch:
            if total:
                logger.info("deleted expired artifacts", extra={"count": total})
            return total
