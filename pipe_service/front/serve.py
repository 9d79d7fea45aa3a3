"""Serve the front on the Unix socket (mode 0660) and, when enabled, loopback TCP.

Carries the hypercorn/quart-trio fixes measured in reference/trio-stack.md: the final body send
is shielded, every write is bounded (a client that stops reading is cut off), the socket umask
gives 0660, the backlog is raised, and the graceful timeout is ours.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart_trio import QuartTrio

from pipe_service.asgi_shield import ShieldFinalSend
from pipe_service.config import Settings
from pipe_service.front.send_timeout import install_send_timeout
from pipe_service.protocol import MAX_CLIENT_FRAME_BYTES

# rw for the owner and group, nothing for others: Open WebUI's user joins the group.
SOCKET_UMASK = 0o117


def hypercorn_config(settings: Settings) -> Config:
    config = Config()
    socket_path = settings.effective_socket_path
    config.bind = [f"unix:{socket_path}"]
    if settings.port:
        config.bind.append(f"{settings.host}:{settings.port}")
    config.umask = SOCKET_UMASK
    config.backlog = settings.backlog
    config.graceful_timeout = settings.graceful_timeout_s
    config.accesslog = None
    config.errorlog = "-"
    config.loglevel = "WARNING"
    config.include_server_header = False
    config.websocket_max_message_size = MAX_CLIENT_FRAME_BYTES
    return config


async def serve_front(
    app: QuartTrio,
    settings: Settings,
    shutdown_trigger: Callable[[], Awaitable[None]],
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` until ``shutdown_trigger`` returns and open connections finish.

    ``task_status.started()`` gets the bound URLs once every socket listens. Resource handling:
    the socket file is removed on the way out (hypercorn leaves it behind). Error handling: bind
    errors (address in use, bad path) raise before ``started()``, at the caller's ``start``.
    """
    socket_path = settings.effective_socket_path
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    install_send_timeout(settings.send_stall_s)
    app.asgi_app = ShieldFinalSend(app.asgi_app)  # type: ignore[method-assign]
    try:
        await serve(
            app,
            hypercorn_config(settings),
            shutdown_trigger=shutdown_trigger,
            task_status=task_status,
        )
    finally:
        socket_path.unlink(missing_ok=True)
