"""Render turn events as Open WebUI emitter events (``{"type": …, "data": …}``).

Status lines and citations have no chat-chunk form; Open WebUI takes them through its event
emitter (or as ``{"event": …}`` items of a pipe's stream). ``status`` appends to the message's
status history; ``source`` appends to ``message.sources``, which Open WebUI numbers in order, so
citations must be sent in ``Citation.index`` order.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pipe_service.chat.events import Citation, Status, TurnEvent


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
