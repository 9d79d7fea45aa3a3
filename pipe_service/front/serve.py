"""Serve the front on the Unix socket (mode 0660) and, when enabled, loopback TCP.

Carries the hypercorn/quart-trio fixes measured in reference/trio-stack.md: the final body send
is shielded, every write is bounded (a client that stops reading is cut off), the socket umask
gives 0660, the backlog is raised, and the graceful timeout is ours.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Awaitable, Callable, Sequence

import trio
from hypercorn.config import Config, Sockets
from hypercorn.trio.run import worker_serve
from hypercorn.utils import wrap_app
from quart_trio import QuartTrio

from pipe_service.asgi_shield import ShieldFinalSend
from pipe_service.config import ConfigError, Settings
from pipe_service.front.send_timeout import install_send_timeout
from pipe_service.front.ws_invalid_frames import install_invalid_frame_answers
from pipe_service.instance_lock import claim_socket_path, remove_own_socket, socket_inode
from pipe_service.protocol import MAX_CLIENT_FRAME_BYTES, OVERSIZE_FRAME_MARGIN_BYTES

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
    # A frame just over the cap reaches the endpoint and is answered ``frame_too_large``.
    config.websocket_max_message_size = MAX_CLIENT_FRAME_BYTES + OVERSIZE_FRAME_MARGIN_BYTES
    return config


async def serve_front(
    app: QuartTrio,
    settings: Settings,
    shutdown_trigger: Callable[[], Awaitable[None]],
    *,
    inherited_fds: Sequence[int] = (),
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` until ``shutdown_trigger`` returns and open connections finish.

    ``task_status.started()`` gets the bound URLs once every socket listens. Expects the
    instance lock to be held (:mod:`pipe_service.instance_lock`). ``inherited_fds``: listening
    sockets a supervisor process bound (:func:`bind_front`), served instead of binding; a
    worker never claims or removes the socket file, its supervisor does. Resource handling:
    the socket file this call bound is removed on the way out (hypercorn leaves it behind), and
    only that one: never a file it did not create. Error handling: a socket path in use or not
    a socket, an address in use or that cannot be bound, raise :class:`ConfigError` before
    ``started()``.
    """
    socket_path = settings.effective_socket_path
    config = hypercorn_config(settings)
    if inherited_fds:
        config.bind = [f"fd://{fd}" for fd in inherited_fds]
        sockets = config.create_sockets()
        inode = None
    else:
        sockets = bind_front(settings, config)
        inode = socket_inode(socket_path)
    install_send_timeout(settings.send_stall_s)
    install_invalid_frame_answers()
    app.asgi_app = ShieldFinalSend(app.asgi_app)  # type: ignore[method-assign]
    try:
        await worker_serve(
            wrap_app(app, config.wsgi_max_body_size, "asgi"),
            config,
            sockets=sockets,
            shutdown_trigger=shutdown_trigger,
            task_status=task_status,
        )
    finally:
        remove_own_socket(socket_path, inode)


def bind_front(settings: Settings, config: Config | None = None) -> Sockets:
    """Claim the socket path, bind and listen on every configured address.

    A bind failure is a :class:`ConfigError`. The caller owns the sockets (and the socket
    file: :func:`pipe_service.instance_lock.remove_own_socket` when done).
    """
    config = config or hypercorn_config(settings)
    claim_socket_path(settings.effective_socket_path, field="socket_path")
    try:
        sockets = config.create_sockets()
    except OSError as exc:
        # hypercorn binds the Unix socket first: if TCP then fails, ours is the file there.
        remove_own_socket(
            settings.effective_socket_path, socket_inode(settings.effective_socket_path)
        )
        raise ConfigError(_bind_problem(exc, settings)) from None
    for sock in sockets.insecure_sockets:
        sock.listen(config.backlog)
    return sockets


def _bind_problem(exc: OSError, settings: Settings) -> str:
    reason = exc.strerror or str(exc)
    if isinstance(exc, socket.gaierror):
        return (
            f"configuration error: host: {settings.host!r} cannot be resolved ({reason}); set "
            "an IP address such as 127.0.0.1 (PIPE_SERVICE_HOST)"
        )
    if exc.errno == errno.EADDRINUSE:
        return (
            f"configuration error: port: {settings.host}:{settings.port} is already in use; "
            "stop what listens there or choose another port (PIPE_SERVICE_PORT; 0 = no TCP)"
        )
    if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
        return (
            f"configuration error: host: {settings.host!r} is not an address of this machine "
            f"({reason}); set PIPE_SERVICE_HOST to a local address"
        )
    return (
        f"configuration error: socket_path/port: cannot bind {settings.effective_socket_path} "
        f"or {settings.host}:{settings.port} ({reason}); check permissions or choose others"
    )
