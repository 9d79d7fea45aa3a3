"""Open WebUI 0.12.4 as the end-to-end suite and ``bench --owui`` run it: offline, fresh data.

Both start ``open-webui serve`` from the venv of ``scripts/owui_venv.sh`` with the environment of
:func:`owui_environment` (the offline settings of shared/reference/open-webui-0.12.md Part B, no
title/tag/follow-up tasks, API keys on), then sign up the first user, who becomes the admin, and
give it an API key (:func:`sign_up_admin`). The e2e suite drives the process with
``subprocess``, the bench under trio; what they share lives here.

Synopsis::

    command = owui_command(owui_venv(), port)
    env = owui_environment(data_dir)
    ...                                   # start it, wait for GET /health
    admin = sign_up_admin(f"http://127.0.0.1:{port}")
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx

OWUI_VERSION: Final = "0.12.4"
DEFAULT_OWUI_VENV: Final = Path.home() / ".cache" / "pipe-service" / f"owui-{OWUI_VERSION}"
REQUEST_S: Final = 60.0
# Our own settings must not leak into Open WebUI: CI sets DATABASE_URL/REDIS_URL for our tests and
# Open WebUI reads the same names (it must keep its own SQLite under DATA_DIR).
_FOREIGN_NAMES: Final = ("OPENROUTER_API_KEY", "DATABASE_URL", "REDIS_URL")


class OwuiSetupError(Exception):
    """Open WebUI could not be found, started or prepared; ``str(err)`` says what and why."""


def owui_venv(env: Mapping[str, str] = os.environ) -> Path:
    """``OWUI_VENV`` or the default; the venv need not exist (see :func:`require_owui_venv`)."""
    return Path(env.get("OWUI_VENV") or DEFAULT_OWUI_VENV).expanduser()


def require_owui_venv(venv: Path) -> Path:
    """``venv`` when it holds ``bin/open-webui``; else :class:`OwuiSetupError` saying how."""
    if not (venv / "bin" / "open-webui").exists():
        raise OwuiSetupError(
            f"no Open WebUI venv at {venv}: run scripts/owui_venv.sh (make e2e does), "
            "or point OWUI_VENV at one"
        )
    return venv


def owui_command(venv: Path, port: int) -> list[str]:
    """``open-webui serve`` on 127.0.0.1:``port``."""
    return [str(venv / "bin" / "open-webui"), "serve", "--host", "127.0.0.1", "--port", str(port)]


def owui_environment(data_dir: Path) -> dict[str, str]:
    """Ours minus pipe-service's settings, plus a fresh ``DATA_DIR`` and the offline settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PIPE_SERVICE_") and key not in _FOREIGN_NAMES
    }
    env |= {
        "DATA_DIR": str(data_dir),
        "WEBUI_SECRET_KEY": secrets.token_hex(32),
        "OFFLINE_MODE": "true",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "ENABLE_OLLAMA_API": "false",
        "ENABLE_OPENAI_API": "false",
        "RAG_EMBEDDING_MODEL": "",
        "AUDIO_STT_ENGINE": "webapi",
        "ENABLE_VERSION_UPDATE_CHECK": "false",
        "ENABLE_API_KEYS": "true",
        # The pipe would be the task model: keep chats to exactly the calls a client makes.
        "ENABLE_TITLE_GENERATION": "false",
        "ENABLE_TAGS_GENERATION": "false",
        "ENABLE_FOLLOW_UP_GENERATION": "false",
        "ENABLE_AUTOCOMPLETE_GENERATION": "false",
        "ANONYMIZED_TELEMETRY": "false",
        "DO_NOT_TRACK": "true",
        "SCARF_NO_ANALYTICS": "true",
    }
    return env


def owui_healthy(url: str) -> bool:
    """``GET /health`` answers ``{"status": true}``."""
    response = httpx.get(f"{url}/health", timeout=5)
    return response.status_code == httpx.codes.OK and response.json().get("status") is True


@dataclass(frozen=True)
class OwuiAdmin:
    """The first user (admin): a JWT for the UI paths (socket.io) and an API key for the rest."""

    url: str
    jwt: str
    api_key: str

    def client(self, *, jwt: bool = False) -> httpx.Client:
        token = self.jwt if jwt else self.api_key
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=REQUEST_S
        )


def sign_up_admin(url: str) -> OwuiAdmin:
    """Sign up the first user (who becomes admin) and create an API key for it."""
    credentials = {"name": "E2E Admin", "email": "admin@e2e.local", "password": "e2e-password-1"}
    signup = httpx.post(f"{url}/api/v1/auths/signup", json=credentials, timeout=REQUEST_S)
    if signup.status_code != httpx.codes.OK:
        raise OwuiSetupError(f"sign-up refused ({signup.status_code}): {signup.text[:300]}")
    account = signup.json()
    if account.get("role") != "admin":
        raise OwuiSetupError(f"the first user is {account.get('role')!r}, not admin")
    jwt = str(account["token"])
    key = httpx.post(
        f"{url}/api/v1/auths/api_key", headers={"Authorization": f"Bearer {jwt}"}, timeout=REQUEST_S
    )
    if key.status_code != httpx.codes.OK:
        raise OwuiSetupError(f"API key refused ({key.status_code}): {key.text[:300]}")
    return OwuiAdmin(url, jwt, str(key.json()["api_key"]))
