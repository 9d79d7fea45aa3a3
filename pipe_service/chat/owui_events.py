"""Render turn events as Open WebUI emitter events (``{"type": …, "data": …}``).

Tool cards (:func:`tool_card_markdown`) are Markdown Open WebUI renders in the answer itself.
Status lines and citations have no chat-chunk form; Open WebUI takes them through its event
emitter (or as ``{"event": …}`` items of a pipe's stream). ``status`` appends to the message's
status history; ``source`` appends to ``message.sources``, which Open WebUI numbers in order, so
citations must be sent in ``Citation.index`` order.
"""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import urlsplit

from pipe_service.chat.events import Citation, Status, ToolRan, TurnEvent


def to_owui_event(event: TurnEvent) -> dict[str, Any] | None:
    """The emitter event for ``event``, or ``None`` if it is not an emitter-event kind."""
    if isinstance(event, Status):
        return status_event(event.description, done=event.done)
    if isinstance(event, Citation):
        return citation_event(event)
    return None


def status_event(description: str, *, done: bool) -> dict[str, Any]:
    """A ``status`` event (also used for the final usage line)."""
    return {"type": "status", "data": {"description": description, "done": done}}


def citation_event(citation: Citation) -> dict[str, Any]:
    """A ``source`` event for one URL citation; the source is named after its host."""
    host = urlsplit(citation.url).hostname or citation.url
    return {
        "type": "source",
        "data": {
            "source": {"name": host, "url": citation.url},
            "document": [citation.excerpt or citation.title],
            "metadata": [{"source": citation.url, "name": citation.title}],
        },
    }


def tool_card_markdown(ran: ToolRan) -> str:
    """A tool run as Open WebUI renders a tool card: a ``<details type="tool_calls">`` block.

    The attributes are those Open WebUI's own ``serialize_output`` wrote (``arguments`` and
    ``result`` as HTML-escaped JSON strings); its ToolCallDisplay shows name, arguments and
    result, collapsed. A failed call carries ``status="failed"``.
    """
    result = ran.output if ran.error is None else ran.error
    attributes = {
        "type": "tool_calls",
        "done": "true",
        "id": ran.call_id,
        "name": ran.name,
        "arguments": json.dumps(ran.arguments_json, ensure_ascii=False),
        "result": json.dumps(result, ensure_ascii=False),
    }
    if ran.error is not None:
        attributes["status"] = "failed"
    rendered = " ".join(f'{key}="{html.escape(value)}"' for key, value in attributes.items())
    return f"\n<details {rendered}>\n<summary>Tool Executed</summary>\n</details>\n"
