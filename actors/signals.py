"""Turn SIGTERM / SIGINT into a graceful shutdown request.

Synopsis::

    await supervisor.start(ActorSpec("signals", watch_signals, args=(supervisor,)))
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from actors.supervisor import Supervisor

SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def watch_signals(
    supervisor: Supervisor,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Request shutdown on the first SIGTERM or SIGINT, then return.

    A producer-layer actor; it must run in the main thread (trio's signal rule). ``started()``
    returns ``None`` once the handlers are installed, so a signal sent after ``start()`` returns
    is always seen.

    Resource handling: the handlers are installed for this actor's lifetime only. Returning after
    the first signal restores the defaults on purpose: a second Ctrl-C raises KeyboardInterrupt
    and a second SIGTERM ends the process, the way out of a stop that hangs.

    Error handling: nothing to retry; run it without a restart policy.
    """
    with trio.open_signal_receiver(*SHUTDOWN_SIGNALS) as signals:
        task_status.started()
        async for signum in signals:
            supervisor.request_shutdown(f"signal {signal.Signals(signum).name}")
            return
