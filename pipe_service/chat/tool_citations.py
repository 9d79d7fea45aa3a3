"""Sources found in a tool's result: search- and fetch-shaped JSON becomes citations.

Web search tools (Open WebUI's ``search_web``, MCP search servers, workspace tools) return
results as JSON: a list of objects, or an object holding one under ``results``/``items``/
``sources``/``data``, each with a URL (``url``/``link``/``href``) and usually a title and a
snippet. Each such URL becomes one :class:`Citation` (numbered later, per turn). Anything else
(plain text, other JSON) gives none.

Synopsis::

    harvest_citations('[{"title": "Docs", "link": "https://example.com", "snippet": "…"}]')
    # -> [Citation(url="https://example.com", title="Docs", excerpt="…", index=0)]
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from pipe_service.chat.events import Citation

__all__ = ["MAX_CITATIONS_PER_RESULT", "harvest_citations"]

MAX_CITATIONS_PER_RESULT: Final = 20
_MAX_PARSED_CHARS: Final = 1_000_000
_MAX_EXCERPT_CHARS: Final = 500
_URL_KEYS: Final = ("url", "link", "href", "source")
_TITLE_KEYS: Final = ("title", "name")
_EXCERPT_KEYS: Final = ("snippet", "content", "description", "text", "summary")
_LIST_KEYS: Final = ("results", "items", "sources", "data", "organic", "web")


def harvest_citations(output: str) -> list[Citation]:
    """The web sources in a tool's ``output`` (JSON), in order, without duplicates."""
    text = output.strip()
    if not text or text[0] not in "[{" or len(text) > _MAX_PARSED_CHARS:
        return []
    try:
        document = json.loads(text)
    except ValueError:
        return []
    citations: list[Citation] = []
    seen: set[str] = set()
    for entry in _entries(document):
        citation = _citation(entry)
        if citation is None or citation.url in seen:
            continue
        seen.add(citation.url)
        citations.append(citation)
        if len(citations) == MAX_CITATIONS_PER_RESULT:
            break
    return citations


def _entries(document: Any) -> list[Any]:
    if isinstance(document, list):
        return document
    if isinstance(document, Mapping):
        for key in _LIST_KEYS:
            if isinstance(document.get(key), list):
                return list(document[key])
        return [document]
    return []


def _citation(entry: Any) -> Citation | None:
    if not isinstance(entry, Mapping):
        return None
    url = _first_text(entry, _URL_KEYS)
    if url is None or not url.startswith(("http://", "https://")):
        return None
    title = _first_text(entry, _TITLE_KEYS) or url
    excerpt = _first_text(entry, _EXCERPT_KEYS)
    if excerpt is not None:
        excerpt = excerpt[:_MAX_EXCERPT_CHARS]
    return Citation(url=url, title=title, excerpt=excerpt, index=0)


def _first_text(entry: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = entry.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
