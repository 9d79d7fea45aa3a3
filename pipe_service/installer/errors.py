"""The one error type of the installer: a message an admin can act on."""

from __future__ import annotations


class InstallError(Exception):
    """Installing the shim failed; ``str(exc)`` says why and what to do."""


class OpenWebUIError(InstallError):
    """Open WebUI answered an HTTP error; ``status`` is its status code."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status
