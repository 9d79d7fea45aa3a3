"""Identifiers shaped like the ones OpenRouter puts on the wire.

Synopsis::

    generation_id()     # 'gen-1787612977-3B6PXHIyVETuFLzBCzwW'
    message_item_id()   # 'msg_tmp_k3j9x0a1b'
    reasoning_item_id() # 'rs_tmp_...'
    function_item_id()  # 'fc_tmp_...'
    call_id()           # 'call_...'
"""

from __future__ import annotations

import secrets
import string
import time

_ALNUM = string.ascii_letters + string.digits
_LOWER_ALNUM = string.ascii_lowercase + string.digits


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def generation_id(now: float | None = None) -> str:
    """``gen-<unix seconds>-<20 alphanumerics>``: the response id and generation id."""
    stamp = int(time.time() if now is None else now)
    return f"gen-{stamp}-{_random(_ALNUM, 20)}"


def message_item_id() -> str:
    return f"msg_tmp_{_random(_LOWER_ALNUM, 9)}"


def reasoning_item_id() -> str:
    return f"rs_tmp_{_random(_LOWER_ALNUM, 9)}"


def function_item_id() -> str:
    return f"fc_tmp_{_random(_LOWER_ALNUM, 9)}"


def web_search_item_id() -> str:
    return f"ws_tmp_{_random(_LOWER_ALNUM, 9)}"


def image_item_id() -> str:
    return f"ig_tmp_{_random(_LOWER_ALNUM, 9)}"


def call_id() -> str:
    return f"call_{_random(_ALNUM, 24)}"
