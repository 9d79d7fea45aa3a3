"""The signal watcher turns a real SIGTERM into a graceful shutdown request.

The test sends the process a real signal with ``os.kill`` once the watcher reported ready; no
sleeps are involved, and ``fail_after`` bounds the wait on the trio clock.
"""

from __future__ import annotations

import os
import signal

import trio

from actors import ActorSpec, open_supervisor, watch_signals


async def test_sigterm_requests_shutdown_once_the_watcher_started():
    with trio.fail_after(5):
        async with open_supervisor(grace_s=1) as supervisor:
            await supervisor.start(ActorSpec("signals", watch_signals, (supervisor,)))
            os.kill(os.getpid(), signal.SIGTERM)
            await supervisor.wait_shutdown_requested()
    assert supervisor.shutdown_reason == "signal SIGTERM"
    assert supervisor.statistics()[0].state == "stopped"
