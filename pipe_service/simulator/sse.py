"""Server-sent-event framing exactly as OpenRouter writes it.

Only ``data:`` lines (no ``event:`` lines), compact JSON, comments for keep-alive, and a
``data: [DONE]`` sentinel after the terminal event.

Synopsis::

    frame_event({"type": "response.created", "response": {...}, "sequence_number": 0})
    # b'data: {"type":"response.created",...,"sequence_number":0}\\n\\n'
"""

from __future__ import annotations

import json
from typing import Any

KEEPALIVE_FRAME = b": OPENROUTER PROCESSING\n\n"
DONE_FRAME = b"data: [DONE]\n\n"


def compact_json(value: Any) -> str:
    """JSON without spaces, in insertion order (the wire's key order)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def frame_event(event: dict[str, Any]) -> bytes:
    return f"data: {compact_json(event)}\n\n".encode()
