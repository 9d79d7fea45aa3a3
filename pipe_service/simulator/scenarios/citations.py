"""``sim/web-citations``: a web search item, then text with ``url_citation`` annotations."""

from __future__ import annotations

from typing import Any

from pipe_service.simulator.scenarios.base import (
    COMPLETED,
    Ending,
    ScenarioContext,
    chunk_words,
    echo_of,
    filler,
)
from pipe_service.simulator.stream_writer import StreamWriter

SOURCES = (
    ("https://example.com/docs/simulator", "Example Docs", "The simulator documentation."),
    ("https://news.example.org/articles/42", "Simulated News", "An article about simulators."),
)


def cited_text(context: ScenarioContext) -> tuple[str, list[dict[str, Any]]]:
    """Text citing every source as ``[n]`` and one annotation per citation marker."""
    topic = echo_of(context.request) or "your question"
    text = f"About {topic}: {SOURCES[0][1]} [1] and {SOURCES[1][1]} [2] agree."
    annotations: list[dict[str, Any]] = []
    for number, (url, title, excerpt) in enumerate(SOURCES, start=1):
        marker = f"{title} [{number}]"
        start = text.index(marker)
        annotations.append(
            {
                "type": "url_citation",
                "url": url,
                "title": title,
                "start_index": start,
                "end_index": start + len(marker),
                "content": excerpt,
            }
        )
    return f"{text} {filler(context.pacing.answer_words)}.", annotations


def search_and_cite(context: ScenarioContext, out: StreamWriter) -> Ending:
    query = echo_of(context.request) or "simulator"
    out.add_web_search(query, [url for url, _, _ in SOURCES])
    text, annotations = cited_text(context)
    out.add_message(chunk_words(text, context.pacing.words_per_delta), annotations)
    return COMPLETED
