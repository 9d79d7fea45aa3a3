"""Hidden artifact markers in assistant messages.

A marker is a Markdown link reference definition naming an artifact's ULID::

    [01JDX0Q9J8Z5M8K3V3S9E8Y7QF]: #

A reference definition renders as nothing (Open WebUI's Markdown renderer, like any CommonMark
one, drops it), but it stays in the message text Open WebUI stores and sends back with the next
request, so the next turn knows which stored items to replay. Definitions cannot interrupt a
paragraph, so the block is separated from the answer by a blank line.

Synopsis::

    text = answer + render_markers(["01JDX0Q9J8Z5M8K3V3S9E8Y7QF"])
    find_markers(text)     # ['01JDX0Q9J8Z5M8K3V3S9E8Y7QF']
    strip_markers(text)    # answer
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pipe_service.storage.ids import ULID_PATTERN

_MARKER_LINE = re.compile(rf"^\[({ULID_PATTERN})\]: #[ \t]*$", re.MULTILINE)
# A marker line with the line break before it, so stripping leaves no blank tail.
_MARKER_WITH_BREAK = re.compile(rf"\n*^\[{ULID_PATTERN}\]: #[ \t]*$", re.MULTILINE)


def render_markers(ids: Sequence[str]) -> str:
    """The block to append to an answer ('' for no ids)."""
    if not ids:
        return ""
    return "\n\n" + "\n".join(f"[{artifact_id}]: #" for artifact_id in ids)


def find_markers(text: str) -> list[str]:
    """The artifact ids named by marker lines of ``text``, in order, without repeats."""
    return list(dict.fromkeys(_MARKER_LINE.findall(text)))


def contains_marker(text: str) -> bool:
    return _MARKER_LINE.search(text) is not None


def strip_markers(text: str) -> str:
    """``text`` without marker lines (history sent upstream never shows them to a model)."""
    if "]: #" not in text:  # fast path: almost every message has none
        return text
    return _MARKER_WITH_BREAK.sub("", text).rstrip("\n") if contains_marker(text) else text
