"""A small synchronous HTTP client for the sidecar's operator routes, over its Unix socket.

The socket is protected by its file mode, so no token is needed there (``/admin/*`` asks for
the API token only on TCP).

Synopsis::

    with SidecarClient(settings.effective_socket_path) as sidecar:
        status = sidecar.get_json("/status")
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

REQUEST_LIMIT_S = 10.0


class SidecarUnreachableError(Exception):
    """No sidecar answers on the socket; ``str()`` says where and what to check."""


class SidecarRequestError(Exception):
    """The sidecar answered with an error; ``str()`` is its message."""


class SidecarClient:
    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self._client = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(socket_path)),
            base_url="http://sidecar",
            timeout=REQUEST_LIMIT_S,
        )

    def __enter__(self) -> SidecarClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._client.close()

    def get_json(self, path: str) -> Any:
        return self._answer(lambda: self._client.get(path))

    def post_json(self, path: str, body: Any = None) -> Any:
        return self._answer(lambda: self._client.post(path, json=body))

    def _answer(self, send: Any) -> Any:
        try:
            response: httpx.Response = send()
        except httpx.TransportError as exc:
            raise SidecarUnreachableError(
                f"no sidecar answers on {self.socket_path} ({type(exc).__name__}); is "
                "`pipe-service serve` running with the same var_dir/socket_path?"
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = {"error": response.text[:300]}
        if response.status_code >= 400:
            message = body.get("error") if isinstance(body, dict) else None
            raise SidecarRequestError(str(message or f"HTTP {response.status_code}"))
        return body
