"""The dead-letter actors: ``hold_store`` owns the dead-letter database for the process, and
the cleanup (:func:`run`) keeps its table bounded on a schedule.

Letters older than ``retention_days`` (since their first failure) are deleted, then the oldest
beyond ``max_letters``. The cleanup runs at fixed deadlines (``trio.sleep_until``), first at
start.

Synopsis::

    letters = await supervisor.start(ActorSpec("dead_letters", partial(hold_store, url)))
    await supervisor.start(ActorSpec("dead_letter_cleanup", partial(run, letters, bounds,
                                     DeadLetterCleanupStatistics())))
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import NoReturn

import trio

from pipe_service.storage.dead_letters import DeadLetters
from pipe_service.storage.engine import Database

logger = logging.getLogger("pipe_service.storage.dead_letters")


DEAD_LETTER_POOL = 2  # letters are rare; the flusher and a scrape probe at most at once


async def hold_store(
    url: str, *, task_status: trio.TaskStatus[DeadLetters] = trio.TASK_STATUS_IGNORED
) -> NoReturn:
    """Own the dead-letter database for the life of the process.

    ``started()`` returns the store without contacting the database (the table is created
    on first use), so a dead-letter database that is down at start delays nothing.
    **Resource handling:** the engine is disposed on the way out. **Error handling:** none
    here; every user handles its own database errors.
    """
    database = Database.open(url, pool_size=DEAD_LETTER_POOL)
    try:
        task_status.started(DeadLetters(database))
        await trio.sleep_forever()
    finally:
        database.dispose()
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class DeadLetterBounds:
    retention_days: float
    max_letters: int
    interval_s: float


@dataclass(slots=True)
class DeadLetterCleanupStatistics:
    runs: int = 0
    deleted: int = 0
    failures: int = 0
    last_error: str | None = None


async def run(
    letters: DeadLetters,
    bounds: DeadLetterBounds,
    stats: DeadLetterCleanupStatistics,
    *,
    task_status: trio.TaskStatus[DeadLetterCleanupStatistics] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """Every ``bounds.interval_s`` (first run at once) delete expired and surplus letters.

    Consumes nothing; produces deletions. ``started()`` returns ``stats`` (owned by the
    caller, so counts survive restarts).

    **Resource handling:** uses the dead-letter database (owned by the service); holds
    nothing between runs; cancelled at shutdown (a delete either committed or did not).

    **Error handling:** a failed run (the dead-letter database down) is logged and counted;
    the next run comes at its normal time.
    """
    task_status.started(stats)
    deadline = trio.current_time()
    while True:
        await trio.sleep_until(deadline)
        now = trio.current_time()
        while deadline <= now:  # skip missed deadlines instead of running back to back
            deadline += bounds.interval_s
        stats.runs += 1
        try:
            deleted = await letters.enforce_bounds(
                retention_days=bounds.retention_days, max_letters=bounds.max_letters
            )
        except Exception as exc:
            stats.failures += 1
            first_line = (str(exc).splitlines() or [""])[0]
            stats.last_error = f"{type(exc).__name__}: {first_line[:200]}"
            logger.warning("dead-letter cleanup failed", extra={"error": stats.last_error})
            continue
        stats.deleted += deleted
        if deleted:
            logger.info("deleted old dead letters", extra={"count": deleted})
