"""Serve the simulator over real sockets with hypercorn's trio worker.

Synopsis::

    async with trio.open_nursery() as nursery:
        serve = partial(serve_simulator, SimulatorConfig(), binds=["127.0.0.1:0"])
        urls = await nursery.start(serve)
        base_url = urls[0] + "/api/v1"   # e.g. "http://127.0.0.1:54321/api/v1"
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from pipe_service.simulator.app import create_app, state_of
from pipe_service.simulator.config import SimulatorConfig

UNIX_SOCKET_UMASK = 0o117  # socket file mode 0660 (hypercorn uses the process umask otherwise)
BACKLOG = 1024
LOGGER = logging.getLogger("pipe_service.simulator")


async def serve_simulator(
    config: SimulatorConfig,
    *,
    binds: list[str],
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    socket_umask: int = UNIX_SOCKET_UMASK,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the simulator until ``shutdown_trigger`` returns (or until cancelled).

    ``binds`` are hypercorn binds: ``"127.0.0.1:0"`` (any free port) or ``"unix:/path"``.
    ``started()`` reports the bound URLs, e.g. ``["http://127.0.0.1:54321"]`` or
    ``["http://unix:/path"]``; clients use ``<url>/api/v1`` as the OpenRouter base URL.
    ``socket_umask`` sets a Unix socket's file mode (default 0660; 0o177 gives 0600).

    **Resource handling:** hypercorn owns the listening sockets and closes them on exit.
    **Shutdown:** when the trigger returns, every paused or stalled stream drops at once, then
    hypercorn stops within ``config.graceful_timeout_s``. Cancellation stops everything at once.
    **Errors:** a catalog that cannot be loaded raises before ``started()``.
    """
    app = create_app(config)
    state = state_of(app)
    hypercorn_config = HypercornConfig()
    hypercorn_config.bind = list(binds)
    hypercorn_config.graceful_timeout = config.graceful_timeout_s
    hypercorn_config.backlog = BACKLOG
    hypercorn_config.umask = socket_umask
    hypercorn_config.accesslog = None
    hypercorn_config.errorlog = LOGGER

    async def stop_when_triggered() -> None:
        if shutdown_trigger is None:
            await trio.sleep_forever()
        else:
            await shutdown_trigger()
        # Why before returning: hypercorn waits for open streams; stalled ones must end first.
        state.stop_streams()

    async with trio.open_nursery() as nursery:
        bound: list[str] = await nursery.start(
            partial(serve, app, hypercorn_config, shutdown_trigger=stop_when_triggered)
        )
        LOGGER.info("simulator listening on %s", ", ".join(bound))
        task_status.started(bound)
