"""A worker dies with its supervisor process instead of serving on as an orphan.

The supervisor keeps the write end of each worker's stdin open for the worker's life; the kernel
closes it when the supervisor dies for any reason (SIGKILL included), and the worker reads EOF.
The worker then ends at once, as if it had been killed with its supervisor (what
``PR_SET_PDEATHSIG`` does in C): a graceful drain would keep the socket answered by a process
nobody supervises, so a restarted service could not claim it, and a crash of the service would
look like a slow restart to its users.
"""

from __future__ import annotations

import logging
import os

import trio

logger = logging.getLogger("pipe_service.workers")

EXIT_SUPERVISOR_GONE = 70
"""The worker's exit code when its supervisor died (nobody reads it but a debugger)."""


async def watch_supervisor_process(
    *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """End the process when stdin reaches EOF (the supervisor process is gone).

    Consumes stdin (nothing but EOF is expected after the handoff line); produces nothing.
    ``started()`` returns ``None`` once stdin is watched. Resource handling: reads a duplicate
    of fd 0, closed with the process. Error handling: a read error counts as the supervisor
    being gone; run it without a restart policy.
    """
    stream = trio.lowlevel.FdStream(os.dup(0))
    async with stream:
        task_status.started()
        try:
            while await stream.receive_some(4096):
                pass
        except (trio.BrokenResourceError, OSError):
            pass
    logger.critical("the supervisor process is gone: this worker stops now")
    logging.shutdown()
    os._exit(EXIT_SUPERVISOR_GONE)
