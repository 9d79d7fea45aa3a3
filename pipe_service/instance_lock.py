"""One sidecar per var dir: a lock file beside the Unix socket, and careful socket-file handling.

hypercorn removes any socket file at a bind path before binding, so without a lock a second
``pipe-service serve`` in the same directory would silently take the live sidecar's socket away
(the shim could no longer connect while TCP health stayed green). The first actor to start takes
an exclusive ``flock`` on ``<socket_path>.lock`` and holds it for the life of the process; a
second start finds it held and refuses with a configuration error (exit 78). The kernel drops
the lock when the process dies, even on SIGKILL, so a crash never leaves the directory locked.

Under the lock, :func:`claim_socket_path` makes a bind path usable: nothing there is fine; a
socket nobody answers on is stale and removed; a socket somebody answers on, or anything that is
not a socket (a regular file, a directory), is refused and left untouched.

Synopsis::

    prepare_var_dir(settings)                       # ConfigError naming var_dir
    await supervisor.start(ActorSpec("instance_lock", partial(hold_instance_lock, settings),
                                     layer="sink"))
    claim_socket_path(settings.effective_socket_path, field="socket_path")
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import socket
import stat
from pathlib import Path
from typing import NoReturn

import trio

from pipe_service.config import ConfigError, Settings

logger = logging.getLogger("pipe_service.instance_lock")


def lock_path(settings: Settings) -> Path:
    socket_path = settings.effective_socket_path
    return socket_path.with_name(socket_path.name + ".lock")


def prepare_var_dir(settings: Settings) -> None:
    """Create the var dir (and the socket's directory); refuse one that cannot be used."""
    for field, directory in (
        ("var_dir", settings.var_dir),
        ("socket_path", settings.effective_socket_path.parent),
    ):
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise ConfigError(
                f"configuration error: {field}: {directory} exists and is not a directory; "
                f"point {field} elsewhere (PIPE_SERVICE_{field.upper()})"
            ) from None
        except OSError as exc:
            raise ConfigError(
                f"configuration error: {field}: cannot create {directory} ({exc.strerror}); "
                f"create it for the service user or point {field} elsewhere "
                f"(PIPE_SERVICE_{field.upper()})"
            ) from None
        if not os.access(directory, os.W_OK | os.X_OK):
            raise ConfigError(
                f"configuration error: {field}: {directory} is not writable by this user; "
                f"fix its owner/permissions or point {field} elsewhere "
                f"(PIPE_SERVICE_{field.upper()})"
            )


class InstanceLock:
    """An exclusive, non-blocking ``flock`` on the lock file; :meth:`release` is idempotent."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`ConfigError` saying who holds it."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ConfigError(
                f"configuration error: socket_path: cannot open the lock file {self.path} "
                f"({exc.strerror}); make its directory writable"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_pid(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
            who = f" (pid {holder})" if holder else ""
            raise ConfigError(
                f"configuration error: socket_path: another pipe-service{who} is running with "
                f"{self.path.parent}; stop it first, or give this one its own var_dir "
                "(PIPE_SERVICE_VAR_DIR) or socket_path"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        # The file stays: deleting it would let a third process lock a different inode.
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


async def hold_instance_lock(
    settings: Settings, *, task_status: trio.TaskStatus[Path] = trio.TASK_STATUS_IGNORED
) -> NoReturn:
    """Hold the instance lock for the life of the process.

    Consumes and produces nothing. ``started()`` returns the lock file's path once the lock is
    held. Resource handling: the lock (its file descriptor) is released on the way out; the
    file is kept. Error handling: a lock held by another process raises :class:`ConfigError`
    before ``started()``, so the service stops before touching any socket (exit 78).
    """
    lock = InstanceLock(lock_path(settings))
    lock.acquire()
    try:
        task_status.started(lock.path)
        await trio.sleep_forever()
    finally:
        lock.release()
    raise AssertionError("unreachable")


def claim_socket_path(path: Path, *, field: str) -> None:
    """Make ``path`` free for a bind: remove a stale socket; refuse anything else that is there."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ConfigError(
            f"configuration error: {field}: {path} exists and is not a socket; move it away "
            f"or point {field} elsewhere (PIPE_SERVICE_{field.upper()})"
        )
    if _answers(path):
        raise ConfigError(
            f"configuration error: {field}: a server is listening on {path}; stop it or point "
            f"{field} elsewhere (PIPE_SERVICE_{field.upper()})"
        )
    logger.info("removing a stale socket file", extra={"path": str(path)})
    path.unlink(missing_ok=True)


def remove_own_socket(path: Path, inode: int | None) -> None:
    """Remove the socket this process bound at ``path`` (same inode), nothing else."""
    if inode is None:
        return
    try:
        status = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISSOCK(status.st_mode) and status.st_ino == inode:
        path.unlink(missing_ok=True)


def socket_inode(path: Path) -> int | None:
    try:
        status = path.lstat()
    except FileNotFoundError:
        return None
    return status.st_ino if stat.S_ISSOCK(status.st_mode) else None


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(os.fspath(path))
        except OSError:
            return False
    return True


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
