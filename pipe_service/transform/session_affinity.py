"""A stable, private per-chat routing key: ``session_id`` = HMAC-SHA256(secret, chat id).

OpenRouter routes requests with the same ``session_id`` to the same provider, so a chat keeps
hitting the provider that holds its prompt cache. The key is stable across the turns of one
chat, differs between chats, and reveals neither the chat id nor the secret.

Synopsis::

    key = affinity_key(secret, chat_id)   # 'chat-3f1a…' (69 characters)
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

__all__ = ["AFFINITY_PREFIX", "affinity_key"]

AFFINITY_PREFIX: Final = "chat-"


def affinity_key(secret: bytes, chat_id: str) -> str:
    """The routing key of ``chat_id`` under ``secret`` (a non-empty byte string)."""
    if not secret:
        raise ValueError("the session secret must not be empty")
    digest = hmac.new(secret, chat_id.encode("utf-8"), hashlib.sha256).hexdigest()
    return AFFINITY_PREFIX + digest
