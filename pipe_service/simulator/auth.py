"""Bearer-key checks with OpenRouter's 401 bodies (reference §7)."""

from __future__ import annotations

from pipe_service.simulator.errors import ErrorReply, no_auth_credentials, user_not_found

DEFAULT_KEY_PREFIX = "sk-or-"


def bearer_key(authorization: str | None) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header value, else None."""
    scheme, _, key = (authorization or "").strip().partition(" ")
    key = key.strip()
    return key if scheme.lower() == "bearer" and key else None


def check_auth(authorization: str | None, api_keys: list[str] | None) -> ErrorReply | None:
    """None when the key is accepted. ``api_keys=None`` accepts any ``sk-or-`` key."""
    key = bearer_key(authorization)
    if key is None:
        return no_auth_credentials()
    accepted = key.startswith(DEFAULT_KEY_PREFIX) if api_keys is None else key in api_keys
    return None if accepted else user_not_found()


def key_label(key: str) -> str:
    """How OpenRouter labels a key: its prefix and last characters, never the whole key."""
    return f"{key[:8]}...{key[-3:]}" if len(key) > 12 else "sk-or-..."
