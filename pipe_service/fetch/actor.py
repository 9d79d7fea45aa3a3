"""The remote-fetch actor: owns the process-wide :class:`RemoteFetcher` and its limits.

Downloads do not travel through this actor's task: :meth:`RemoteFetcher.fetch` runs in the
requesting turn's own task tree, so a cancelled request cancels its download, and the fetcher's
:class:`trio.CapacityLimiter` bounds how many run at once across the process. The actor exists so
the fetcher has one owner in the supervision tree (started before the fronts that use it) and so
its counters are logged.

Synopsis::

    fetcher = RemoteFetcher(limits, policy, SystemResolver())
    fetcher = await supervisor.start(ActorSpec("fetch", run, args=(fetcher,)))
    body = await fetcher.fetch(url)
"""

from __future__ import annotations

import logging
from typing import Final, NoReturn

import trio

from pipe_service.fetch.fetcher import RemoteFetcher

log = logging.getLogger(__name__)

STATISTICS_INTERVAL_S: Final = 300.0
"""How often the fetch counters are logged (at debug level)."""


async def run(
    fetcher: RemoteFetcher,
    *,
    statistics_interval_s: float = STATISTICS_INTERVAL_S,
    task_status: trio.TaskStatus[RemoteFetcher] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """Hand out ``fetcher`` and log its counters every ``statistics_interval_s``.

    Consumes nothing (downloads run in the callers' tasks); ``started()`` returns the fetcher.

    **Resource handling:** holds no resource; every download opens and closes its own pinned
    connection, so nothing outlives a request.

    **Error handling:** nothing is expected to fail here; an error escapes to the supervisor.
    Download failures are values for the caller (:class:`UnsafeUrlError`, :class:`FetchError`).
    """
    task_status.started(fetcher)
    deadline = trio.current_time()
    while True:
        deadline += statistics_interval_s
        await trio.sleep_until(deadline)
        log.debug("remote fetch statistics: %s", fetcher.statistics())
