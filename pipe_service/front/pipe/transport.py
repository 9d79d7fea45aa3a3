"""Sizes and bounds of the shim protocol's transport.

A shim that stops reading is handled below the app: every write of the front is bounded by
``send_stall_s`` (``pipe_service/front/send_timeout.py``), after which hypercorn closes the
connection and the session's request is cancelled.
"""

from __future__ import annotations

from typing import Final

CLOSE_LIMIT_S: Final = 1.0
"""Bound on sending the close frame (and on closing the socket) at the end of a session."""
