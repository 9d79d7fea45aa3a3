"""URL citations of one turn: extracted from annotations, deduplicated by URL, numbered.

OpenRouter streams ``url_citation`` annotations with ``response.output_text.annotation.added``
and repeats them in ``output_item.done`` and ``response.completed``; some providers only put
them in the final objects. :class:`CitationRegistry` accepts them from any of those places and
reports each URL once, numbered in order of first appearance.

Synopsis::

    registry = CitationRegistry()
    registry.add(annotation)                 # -> [Citation(..., index=1)] or []
    registry.add_from_message_item(item)     # -> citations not seen yet
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pipe_service.chat.events import Citation
from pipe_service.chat.json_fields import as_list

_URL_CITATION = "url_citation"


class CitationRegistry:
    """Deduplicate and number the citations of one turn."""

    def __init__(self) -> None:
        self._seen_urls: set[str] = set()

    def __len__(self) -> int:
        return len(self._seen_urls)

    def add(self, annotation: Any) -> list[Citation]:
        """Return ``[Citation]`` for a new ``url_citation`` annotation, else ``[]``."""
        if not isinstance(annotation, dict) or annotation.get("type") != _URL_CITATION:
            return []
        url = annotation.get("url")
        if not isinstance(url, str) or not url or url in self._seen_urls:
            return []
        self._seen_urls.add(url)
        title = annotation.get("title")
        excerpt = annotation.get("content")
        return [
            Citation(
                url=url,
                title=title if isinstance(title, str) and title else url,
                excerpt=excerpt if isinstance(excerpt, str) and excerpt else None,
                index=len(self._seen_urls),
            )
        ]

    def add_all(self, annotations: Iterable[Any]) -> list[Citation]:
        """:meth:`add` each annotation; return the new citations in order."""
        citations: list[Citation] = []
        for annotation in annotations:
            citations += self.add(annotation)
        return citations

    def add_from_message_item(self, item: dict[str, Any]) -> list[Citation]:
        """New citations found in a ``message`` output item's ``content[].annotations``."""
        citations: list[Citation] = []
        for part in as_list(item.get("content")):
            if isinstance(part, dict):
                citations += self.add_all(as_list(part.get("annotations")))
        return citations
