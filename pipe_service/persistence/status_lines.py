"""What users see when persistence is skipped or fails (status lines, never errors: the
answer itself is unaffected)."""

from __future__ import annotations

from typing import Final

PAUSED_STATUS: Final = (
    "⚠️ Reasoning and tool results are not being saved right now: the database keeps "
    "failing. The next reply may not see them."
)
FAILED_STATUS: Final = (
    "⚠️ This reply's reasoning and tool results could not be saved; the next reply will not "
    "see them."
)
UNAVAILABLE_STATUS: Final = (
    "⚠️ Reasoning and tool results are not being saved: the database is not reachable yet."
)
LOAD_FAILED_STATUS: Final = (
    "⚠️ Saved reasoning and tool results could not be loaded; answering without them."
)
UNDECRYPTABLE_STATUS: Final = (
    "⚠️ Some saved reasoning and tool results were encrypted with a key this server does not "
    "have; answering without them."
)
