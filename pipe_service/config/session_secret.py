"""The server secret that keys per-chat ``session_id`` values (see ``transform.session_affinity``).

``session_secret`` from the configuration wins. Without it the secret lives in
``<var_dir>/session-secret`` (64 hex characters, file mode 0600), created on first start. The
file appears whole or not at all (written to a temporary file, then hard-linked into place,
which fails if it exists): a second process starting at the same moment (``serve --workers``
starts them together) reads the first one's secret, never a half-written file, and cannot
overwrite it, so every worker and every restart derives the same keys. Sidecars sharing chats
across hosts should set ``session_secret`` to one value.

Synopsis::

    secret = load_session_secret(settings.session_secret, settings.var_dir)
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path
from typing import Final

from pydantic import SecretStr

__all__ = ["SECRET_FILE_NAME", "SessionSecretError", "load_session_secret"]

SECRET_FILE_NAME: Final = "session-secret"
_MIN_CHARS: Final = 16

logger = logging.getLogger("pipe_service.config.session_secret")


class SessionSecretError(RuntimeError):
    """The secret file exists but cannot be used (names the file and the fix)."""


def load_session_secret(configured: SecretStr | None, var_dir: Path) -> bytes:
    """The configured secret, else the one in ``var_dir`` (created 0600 when missing)."""
    if configured is not None:
        return configured.get_secret_value().encode("utf-8")
    path = var_dir / SECRET_FILE_NAME
    var_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        _create(path)
    return _read(path)


def _create(path: Path) -> None:
    """Put a new secret at ``path`` unless another process got there first."""
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(secrets.token_hex(32) + "\n")
            file.flush()
            os.fsync(file.fileno())
        os.link(draft, path)
    except FileExistsError:
        return  # another worker's secret is already in place, whole
    finally:
        draft.unlink(missing_ok=True)
    logger.info("created the session secret", extra={"path": str(path)})


def _read(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SessionSecretError(
            f"{path} is readable by other users (mode {mode:o}); run 'chmod 600 {path}'"
        )
    value = path.read_text("ascii", errors="replace").strip()
    if len(value) < _MIN_CHARS:
        raise SessionSecretError(
            f"{path} holds fewer than {_MIN_CHARS} characters; delete it to have a new one made"
        )
    return value.encode("ascii")
