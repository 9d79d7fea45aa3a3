"""Open WebUI emitter-event rendering of status lines and citations."""

from __future__ import annotations

from pipe_service.chat.events import Citation, Status, TextDelta
from pipe_service.chat.owui_events import status_event, to_owui_event


def test_status_becomes_status_event() -> None:
    assert to_owui_event(Status("Searching the web…", done=False)) == {
        "type": "status",
        "data": {"description": "Searching the web…", "done": False},
    }


def test_citation_becomes_source_event_named_after_host() -> None:
    citation = Citation("https://docs.example.org/a?b=1", "Doc A", "quoted text", 1)
    assert to_owui_event(citation) == {
        "type": "source",
        "data": {
            "source": {"name": "docs.example.org", "url": "https://docs.example.org/a?b=1"},
            "document": ["quoted text"],
            "metadata": [{"source": "https://docs.example.org/a?b=1", "name": "Doc A"}],
        },
    }


def test_citation_without_excerpt_uses_title_as_document() -> None:
    event = to_owui_event(Citation("https://a.example", "Title", None, 2))
    assert event is not None
    assert event["data"]["document"] == ["Title"]


def test_deltas_are_not_emitter_events() -> None:
    assert to_owui_event(TextDelta("x")) is None


def test_usage_line_status_is_done() -> None:
    assert status_event("Time: 1.00s", done=True)["data"]["done"] is True
