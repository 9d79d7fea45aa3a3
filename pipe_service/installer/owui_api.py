"""The few Open WebUI 0.12 admin endpoints the installer uses, with errors an admin can act on.

Every failure becomes an :class:`InstallError` naming the cause: Open WebUI unreachable, the key
refused (401), the key's user not an admin, or Open WebUI's own message (e.g. a Function whose
module fails to load answers 400 with the import error).

Synopsis::

    with OpenWebUI("http://127.0.0.1:8080", api_key) as owui:
        owui.require_admin()
        function = owui.get_function("openrouter")
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from pipe_service.installer.errors import InstallError, OpenWebUIError

REQUEST_TIMEOUT_S = 60.0
"""Creating a Function imports it, and listing models calls every pipe's ``pipes()``: allow time."""

# Fragments of Open WebUI's ERROR_MESSAGES (open_webui/constants.py), stable across 0.6-0.12.
_ACCESS_PROHIBITED = "You do not have permission"
_NOT_FOUND = "could not find what you're looking for"


class OpenWebUI:
    """A synchronous client for one Open WebUI, authenticated with an admin API key or JWT."""

    def __init__(
        self, base_url: str, api_key: str, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=REQUEST_TIMEOUT_S,
            transport=transport,
        )

    def __enter__(self) -> OpenWebUI:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._client.close()

    def require_admin(self) -> None:
        """Raise unless the key is valid and its user an admin (Functions are admin-only).

        ``GET /api/v1/functions/list`` is admin-only and accepts API keys (``/api/v1/auths/``
        does not: it wants a browser session), so it doubles as the probe.
        """
        self._json("GET", "/api/v1/functions/list")

    def get_function(self, function_id: str) -> dict[str, Any] | None:
        """The Function with this id, or None when there is none."""
        result = self._json("GET", f"/api/v1/functions/id/{function_id}", absent_ok=True)
        return result if isinstance(result, dict) else None

    def create_function(self, form: dict[str, Any]) -> dict[str, Any]:
        return self._object("POST", "/api/v1/functions/create", form)

    def update_function(self, function_id: str, form: dict[str, Any]) -> dict[str, Any]:
        return self._object("POST", f"/api/v1/functions/id/{function_id}/update", form)

    def delete_function(self, function_id: str) -> None:
        self._json("DELETE", f"/api/v1/functions/id/{function_id}/delete")

    def toggle_function(self, function_id: str) -> None:
        self._json("POST", f"/api/v1/functions/id/{function_id}/toggle")

    def toggle_function_global(self, function_id: str) -> None:
        """Flip whether a filter Function applies to every model."""
        self._json("POST", f"/api/v1/functions/id/{function_id}/toggle/global")

    def valves_spec(self, function_id: str) -> dict[str, Any] | None:
        """The ``Valves`` JSON schema, or None when the Function has no valves."""
        spec = self._json("GET", f"/api/v1/functions/id/{function_id}/valves/spec")
        return spec if isinstance(spec, dict) else None

    def valves(self, function_id: str) -> dict[str, Any]:
        """The stored valve values (only those ever set; unset ones take their defaults)."""
        values = self._json("GET", f"/api/v1/functions/id/{function_id}/valves")
        return values if isinstance(values, dict) else {}

    def update_valves(self, function_id: str, values: dict[str, Any]) -> dict[str, Any]:
        return self._object("POST", f"/api/v1/functions/id/{function_id}/valves/update", values)

    def model_entries(self) -> list[dict[str, Any]]:
        """``GET /api/v1/models/all``: every model entry (admin), with its access grants."""
        entries = self._json("GET", "/api/v1/models/all")
        return [entry for entry in entries or [] if isinstance(entry, dict)]

    def create_model_entry(self, form: dict[str, Any]) -> dict[str, Any]:
        return self._object("POST", "/api/v1/models/create", form)

    def update_model_entry(self, form: dict[str, Any]) -> dict[str, Any]:
        return self._object("POST", "/api/v1/models/model/update", form)

    def update_model_access(self, model_id: str, grants: list[dict[str, Any]]) -> None:
        body = {"id": model_id, "access_grants": grants}
        self._json("POST", "/api/v1/models/model/access/update", body)

    def groups(self) -> list[dict[str, Any]]:
        """``GET /api/v1/groups/``: the user groups (``id``, ``name``)."""
        groups = self._json("GET", "/api/v1/groups/")
        return [group for group in groups or [] if isinstance(group, dict)]

    def models(self) -> list[dict[str, Any]]:
        """``GET /api/models``: also rebuilds Open WebUI's model cache, so a new pipe is usable."""
        body = self._json("GET", "/api/models")
        data = body.get("data") if isinstance(body, dict) else None
        return [model for model in data or [] if isinstance(model, dict)]

    def _object(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        result = self._json(method, path, body)
        if not isinstance(result, dict):
            raise InstallError(f"{method} {path}: Open WebUI answered {result!r}")
        return result

    def _json(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, absent_ok: bool = False
    ) -> Any:
        try:
            response = self._client.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise InstallError(
                f"cannot reach Open WebUI at {self.base_url} ({type(exc).__name__}: {exc}); "
                "check --owui-url and that Open WebUI is running"
            ) from exc
        if absent_ok and response.status_code in (401, 404) and _is_not_found(response):
            return None
        if response.status_code == 401 and _ACCESS_PROHIBITED in _detail(response):
            raise InstallError(
                "the API key's user is not an admin; installing a Function needs an admin's key"
            )
        if response.status_code == 401:
            raise InstallError(
                f"Open WebUI refused the API key (401: {_detail(response)}); check --api-key "
                "(Settings → Account → API keys; needs ENABLE_API_KEYS=true)"
            )
        if response.status_code == 403:
            raise InstallError(
                f"Open WebUI forbids {method} {path} (403: {_detail(response)}); API keys must be "
                "enabled (ENABLE_API_KEYS=true) and allowed on this endpoint"
            )
        if response.status_code >= 400:
            raise OpenWebUIError(
                f"{method} {path}: Open WebUI answered {response.status_code}: {_detail(response)}",
                response.status_code,
            )
        try:
            return response.json()
        except ValueError as exc:
            raise InstallError(
                f"{method} {path}: {self.base_url} answered non-JSON; is this Open WebUI?"
            ) from exc


def _detail(response: httpx.Response) -> str:
    """Open WebUI's error message (FastAPI ``detail``), else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])[:1000]
    return str(body)[:300]


def _is_not_found(response: httpx.Response) -> bool:
    """Open WebUI 0.12 answers a missing Function with 401 and its generic NOT_FOUND message."""
    return response.status_code == 404 or _NOT_FOUND in _detail(response)
