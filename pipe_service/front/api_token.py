"""The TCP token of a running sidecar: the configured one, or one generated on first start.

TCP without a token would let any local user chat on the operator's OpenRouter key, so when TCP
is on and ``api_token`` is unset a token is generated into ``<var_dir>/api-token`` (created with
mode 0600, never overwritten) and printed once on stderr, so the operator can copy it into the
shim's ``SIDECAR_TOKEN`` valve. Later starts read the same file and only log its path. A file
that others can read, or that holds too short a token, is a configuration error: the sidecar
refuses to start rather than serve on a token it cannot trust.

Synopsis::

    token = resolve_api_token(settings)     # None only when TCP is off
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
import sys

from pydantic import SecretStr

from pipe_service.config import ConfigError, Settings
from pipe_service.config.settings import MIN_API_TOKEN_CHARS

logger = logging.getLogger("pipe_service.front.api_token")

TOKEN_FILE_MODE = 0o600


def resolve_api_token(settings: Settings) -> SecretStr | None:
    """The token TCP callers must present; generated (and printed once) when needed."""
    if not settings.port:
        return settings.api_token
    if settings.api_token is not None:
        return settings.api_token
    path = settings.api_token_path
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, TOKEN_FILE_MODE)
    except FileExistsError:
        return _read_token_file(settings)
    except OSError as exc:
        raise ConfigError(
            f"configuration error: var_dir: cannot create {path} ({exc.strerror}); make var_dir "
            "writable or set api_token (PIPE_SERVICE_API_TOKEN)"
        ) from None
    token = secrets.token_urlsafe(32)
    with os.fdopen(descriptor, "w") as file:
        file.write(token + "\n")
    # Printed, not logged: the log may be shipped elsewhere; stderr reaches the operator once.
    print(
        f"pipe-service: TCP on {settings.host}:{settings.port} requires a bearer token; generated "
        f"one into {path} (mode 0600): {token}\n"
        "pipe-service: set it as the shim's SIDECAR_TOKEN valve for http:// addresses.",
        file=sys.stderr,
        flush=True,
    )
    logger.warning("generated the TCP API token", extra={"path": str(path)})
    return SecretStr(token)


def _read_token_file(settings: Settings) -> SecretStr:
    path = settings.api_token_path
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"configuration error: var_dir: cannot read the token file {path} ({exc}); fix its "
            "permissions or delete it to have a new token generated"
        ) from None
    if stat.S_IMODE(mode) & 0o077:
        raise ConfigError(
            f"configuration error: var_dir: the token file {path} is readable by others "
            f"(mode {stat.S_IMODE(mode):04o}); run `chmod 600 {path}`"
        )
    if len(text) < MIN_API_TOKEN_CHARS or any(char.isspace() for char in text):
        raise ConfigError(
            f"configuration error: var_dir: the token file {path} holds no usable token (at least "
            f"{MIN_API_TOKEN_CHARS} characters, no spaces); delete it to have one generated"
        )
    logger.info("TCP API token read from the var dir", extra={"path": str(path)})
    return SecretStr(text)
