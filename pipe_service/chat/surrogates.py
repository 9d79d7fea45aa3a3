"""Repair UTF-16 surrogate pairs that providers split across two deltas.

Some upstreams cut a delta between the two halves of an astral character (an emoji), so one
delta's JSON ends with ``\\ud83d`` and the next begins with ``\\ude00``. Each decoded delta then
holds a lone surrogate, which cannot be encoded as UTF-8 further down. :class:`SurrogateCarry`
holds a trailing high surrogate back until the next delta of the same stream arrives, joins the
pair, and replaces any surrogate that stays unpaired with U+FFFD.

Synopsis::

    carry = SurrogateCarry()
    carry.push("smile \\ud83d")   # -> "smile "
    carry.push("\\ude00!")        # -> "😀!"
    carry.flush()                  # -> ""
"""

from __future__ import annotations

import re

_HIGH_FIRST, _HIGH_LAST = 0xD800, 0xDBFF
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_REPLACEMENT = "\ufffd"


class SurrogateCarry:
    """Per-stream carry buffer for a dangling high surrogate."""

    def __init__(self) -> None:
        self._pending = ""

    def push(self, text: str) -> str:
        """Return ``text`` made safe to encode, holding back a trailing high surrogate."""
        text = self._pending + text
        self._pending = ""
        if text and _HIGH_FIRST <= ord(text[-1]) <= _HIGH_LAST:
            self._pending = text[-1]
            text = text[:-1]
        return _repair(text)

    def flush(self) -> str:
        """Release a held-back surrogate (as U+FFFD: its pair never came)."""
        pending, self._pending = self._pending, ""
        return _REPLACEMENT if pending else ""


def _repair(text: str) -> str:
    if not _LONE_SURROGATE.search(text):
        return text  # the common case: no surrogates at all
    # Join valid pairs, then replace whatever is still unpaired.
    joined = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return _LONE_SURROGATE.sub(_REPLACEMENT, joined)
