"""What of an earlier assistant message must not go upstream as text.

Open WebUI saves what it rendered: reasoning as ``<details type="reasoning">`` blocks (and tool
calls / code runs as ``<details type="tool_calls">`` / ``"code_interpreter"``), status blocks,
and pipes append hidden markers as Markdown reference definitions that point nowhere
(``[01J8ZKQ4...]: #``, the seed pipe's form). Sent back as the assistant's text they would cost
tokens and teach the model to imitate them. This module strips them; the rest is kept verbatim.

Synopsis::

    clean_assistant_text('<details type="reasoning" done="true">…</details>\\nHello')  # "Hello"
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["clean_assistant_text"]

# Open WebUI's own rendered blocks (0.12.4 `serialize_output` / the seed's markup).
_RENDERED_BLOCK: Final = re.compile(
    r'<details\s+type="(?:reasoning|tool_calls|code_interpreter|status)"[^>]*>'
    r".*?</details>[ \t]*\n?",
    re.DOTALL | re.IGNORECASE,
)
# A Markdown reference definition whose target is "#": renders as nothing, a marker.
_HIDDEN_MARKER: Final = re.compile(
    r"^[ \t]*\[[^\]\n]{1,128}\]:[ \t]*#(?:[ \t]+\"[^\"\n]*\")?[ \t]*\n?", re.M
)


def clean_assistant_text(text: str) -> str:
    """``text`` without rendered reasoning/tool/status blocks and hidden markers, trimmed at the
    ends only where something was removed."""
    cleaned = _HIDDEN_MARKER.sub("", _RENDERED_BLOCK.sub("", text))
    return cleaned.strip() if cleaned != text else text
