"""Who may call the front: the Unix socket by its file mode, TCP by bearer token.

Hypercorn reports ``scope["server"] = None`` for Unix-socket connections; those are trusted
because only the owner and group can open the socket (mode 0660). TCP callers must present
``Authorization: Bearer <api_token>`` when a token is configured; without one, TCP is bound to
loopback only (the settings refuse anything else).
"""

from __future__ import annotations

import hashlib
import hmac

from quart.wrappers.base import BaseRequestWebsocket

from pipe_service.config import Settings


def via_unix_socket(request: BaseRequestWebsocket) -> bool:
    return request.scope.get("server") is None


def bearer_token(request: BaseRequestWebsocket) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def is_authorized(request: BaseRequestWebsocket, settings: Settings) -> bool:
    """True when the caller may use the API (constant-time token comparison)."""
    if via_unix_socket(request) or settings.api_token is None:
        return True
    token = bearer_token(request)
    if token is None:
        return False
    expected = settings.api_token.get_secret_value()
    return hmac.compare_digest(token.encode(), expected.encode())


def client_openrouter_key(request: BaseRequestWebsocket, settings: Settings) -> str | None:
    """An OpenRouter key the client sent as its bearer, used instead of the configured key.

    Only when the bearer is not our own API token and looks like an OpenRouter key, so a
    client with its own key pays for its own requests.
    """
    token = bearer_token(request)
    if token is None or not token.startswith("sk-or-"):
        return None
    if settings.api_token is not None and hmac.compare_digest(
        token.encode(), settings.api_token.get_secret_value().encode()
    ):
        return None
    return token


def caller_identity(request: BaseRequestWebsocket) -> str:
    """Who is calling the OpenAI API, as the owner of its stored reasoning and tool items.

    The bearer the caller authenticated with (the sidecar's ``api_token`` or the caller's own
    OpenRouter key), hashed so no secret is stored; ``local`` for callers without one (the Unix
    socket, or loopback TCP when no token is configured). A client-supplied ``user`` field is
    never part of it: anyone can write any string there.
    """
    token = bearer_token(request)
    if token is None:
        return "local"
    return "bearer:" + hashlib.sha256(token.encode()).hexdigest()[:32]
