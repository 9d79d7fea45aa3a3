"""Reload the configuration on SIGHUP (the conventional daemon signal).

Synopsis::

    await supervisor.start(ActorSpec("reload", watch_reload_signal, args=(live,)))
"""

from __future__ import annotations

import logging
import signal
from typing import NoReturn

import trio

from pipe_service.config.live import LiveSettings
from pipe_service.config.loading import ConfigError

logger = logging.getLogger("pipe_service.config.reload")


async def watch_reload_signal(
    live: LiveSettings,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """Apply ``live.reload()`` on every SIGHUP.

    Consumes SIGHUP signals; produces log lines saying what was applied and what needs a
    restart. ``started()`` returns ``None`` once the handler is installed (a SIGHUP sent after
    ``start()`` returns is always seen). Must run in the main thread (trio's signal rule).

    Resource handling: the SIGHUP handler is installed for this actor's lifetime only.
    Error handling: an invalid configuration is logged and refused (nothing changes); the
    actor keeps waiting for the next signal. Anything else propagates to the supervisor.
    """
    with trio.open_signal_receiver(signal.SIGHUP) as signals:
        task_status.started()
        async for _ in signals:
            try:
                report = live.reload()
            except ConfigError as exc:
                logger.error("reload refused, nothing changed: %s", exc)
                continue
            logger.info(
                "reloaded on SIGHUP",
                extra={
                    "applied": ",".join(report.applied) or "-",
                    "needs_restart": ",".join(report.needs_restart) or "-",
                },
            )
    raise AssertionError("unreachable: the signal receiver never ends")
