"""A worker stops when its supervisor process is gone, instead of serving on as an orphan.

The supervisor keeps the write end of each worker's stdin open for the worker's life; the kernel
closes it when the supervisor dies for any reason (SIGKILL included), and the worker reads EOF.
"""

from __future__ import annotations

import os

import trio

from actors import Supervisor


async def watch_supervisor_process(
    supervisor: Supervisor, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """Request shutdown when stdin reaches EOF (the supervisor process is gone), then return.

    Consumes stdin (nothing but EOF is expected after the handoff line) and produces one
    shutdown request. ``started()`` returns ``None`` once stdin is watched. Resource handling:
    reads a duplicate of fd 0, closed on the way out. Error handling: a read error counts as
    the supervisor being gone; run it without a restart policy.
    """
    stream = trio.lowlevel.FdStream(os.dup(0))
    async with stream:
        task_status.started()
        try:
            while await stream.receive_some(4096):
                pass
        except (trio.BrokenResourceError, OSError):
            pass
    supervisor.request_shutdown("the supervisor process is gone")
