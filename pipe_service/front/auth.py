"""Who may call which route, on which listener: one policy, enforced before every route.

Hypercorn reports ``scope["server"] = None`` for Unix-socket connections; those are trusted
because only the owner and group can open the socket (mode 0660). On TCP every route needs
``Authorization: Bearer <token>`` (compared in constant time), with one exception: ``/healthz``
(liveness, which says nothing but "ok") stays open while TCP is bound to a loopback address, so
a local probe needs no secret. When TCP is on, a token always exists: the configured
``api_token`` or one generated into the var dir (:mod:`pipe_service.front.api_token`).
``docs/security.md`` holds the table of routes and listeners.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from typing import Final

from pydantic import SecretStr
from quart import Response, current_app, request, websocket
from quart.wrappers.base import BaseRequestWebsocket

from pipe_service.front.http_errors import error_response
from pipe_service.front.openai_errors import ApiError

logger = logging.getLogger("pipe_service.front.auth")

OPEN_ON_LOOPBACK: Final = frozenset({"/healthz"})
"""Routes a TCP caller may reach without the token while TCP is bound to loopback."""


@dataclass(frozen=True)
class TcpAccess:
    """The TCP side of the policy: the effective token and whether TCP is loopback-only."""

    token: SecretStr | None
    loopback: bool


def via_unix_socket(request: BaseRequestWebsocket) -> bool:
    return request.scope.get("server") is None


def bearer_token(request: BaseRequestWebsocket) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def needs_token(path: str, access: TcpAccess) -> bool:
    """True when a TCP caller must present the token for ``path``."""
    return not (access.loopback and path in OPEN_ON_LOOPBACK)


def is_authorized(request: BaseRequestWebsocket, access: TcpAccess) -> bool:
    """True when the caller may reach the requested route (see the module docstring)."""
    if via_unix_socket(request) or not needs_token(request.path, access):
        return True
    return _matches(bearer_token(request), access.token)


def client_openrouter_key(request: BaseRequestWebsocket, access: TcpAccess) -> str | None:
    """An OpenRouter key the client sent as its bearer, used instead of the configured key.

    Only when the bearer is not our own API token and looks like an OpenRouter key, so a
    client with its own key pays for its own requests.
    """
    token = bearer_token(request)
    if token is None or not token.startswith("sk-or-"):
        return None
    if _matches(token, access.token):
        return None
    return token


def tcp_access() -> TcpAccess:
    """The policy of the running front (from the app config)."""
    access: TcpAccess = current_app.config["TCP_ACCESS"]
    return access


async def refuse_unauthorized_request() -> Response | None:
    """``before_request`` hook: a 401 (OpenAI-shaped JSON) for a caller without the token."""
    if is_authorized(request, tcp_access()):
        return None
    logger.info(
        "TCP request refused: missing or invalid bearer token", extra={"path": request.path[:100]}
    )
    return error_response(
        ApiError(401, "missing or invalid bearer token for this sidecar", "invalid_api_key")
    )


async def refuse_unauthorized_websocket() -> Response | None:
    """``before_websocket`` hook: refuse the handshake with HTTP 401 (protocol-shaped JSON)."""
    if is_authorized(websocket, tcp_access()):
        return None
    logger.info("pipe connection refused: missing or invalid bearer token")
    body = json.dumps({"error": {"code": "unauthorized", "message": "bad token"}})
    return Response(body, status=401, content_type="application/json")


def _matches(token: str | None, expected: SecretStr | None) -> bool:
    if token is None or expected is None:
        return False
    return hmac.compare_digest(token.encode(), expected.get_secret_value().encode())


def caller_identity(request: BaseRequestWebsocket) -> str:
    """Who is calling the OpenAI API, as the owner of its stored reasoning and tool items.

    The bearer the caller presented (on TCP the sidecar's token; on the Unix socket possibly
    the caller's own OpenRouter key), hashed so no secret is stored; ``local`` for a Unix-socket
    caller without one. A client-supplied ``user`` field is never part of it: anyone can write
    any string there.
    """
    token = bearer_token(request)
    if token is None:
        return "local"
    return "bearer:" + hashlib.sha256(token.encode()).hexdigest()[:32]
