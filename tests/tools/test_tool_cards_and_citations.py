"""What the loop reports about each tool it ran: a ``ToolRan`` event (the renderer's tool card)
and the web sources found in the result (citations, numbered per turn)."""

from __future__ import annotations

import html
import json

from pipe_service.chat.events import Citation, ToolRan
from pipe_service.chat.owui_events import tool_card_markdown
from pipe_service.chat.tool_citations import MAX_CITATIONS_PER_RESULT, harvest_citations
from pipe_service.tools.contract import ToolInvocation, ToolOutcome
from tests.tools.fakes import (
    RecordingExecutor,
    ScriptedUpstream,
    calls_script,
    collect_turn,
    text_script,
)
from tests.tools.test_loop import of_type, tools, turn

SEARCH_RESULT = json.dumps(
    [
        {"title": "Docs", "link": "https://example.com/docs", "snippet": "How it works."},
        {"title": "News", "url": "https://news.example.org/42"},
        {"title": "Docs again", "link": "https://example.com/docs"},
        {"title": "no url"},
    ]
)


async def _search(invocation: ToolInvocation) -> ToolOutcome:
    return ToolOutcome(invocation.call_id, output=SEARCH_RESULT)


async def test_each_tool_run_is_reported_with_its_arguments_and_result() -> None:
    upstream = ScriptedUpstream(
        calls_script(("c1", "get_weather", '{"city":"Paris"}')), text_script("Sunny.")
    )
    events = await collect_turn(turn(RecordingExecutor()), upstream, tools())
    assert of_type(events, ToolRan) == [
        ToolRan("c1", "get_weather", '{"city":"Paris"}', 'get_weather:{"city":"Paris"}')
    ]


async def test_sources_in_a_search_result_become_numbered_citations() -> None:
    upstream = ScriptedUpstream(calls_script(("c1", "get_weather", "{}")), text_script("Found."))
    events = await collect_turn(turn(RecordingExecutor(_search)), upstream, tools())
    assert of_type(events, Citation) == [
        Citation("https://example.com/docs", "Docs", "How it works.", 1),
        Citation("https://news.example.org/42", "News", None, 2),
    ]


def test_results_under_a_results_key_are_harvested() -> None:
    output = json.dumps({"results": [{"url": "https://a.example/x", "content": "text"}]})
    assert harvest_citations(output) == [
        Citation("https://a.example/x", "https://a.example/x", "text", 0)
    ]


def test_plain_text_and_other_json_give_no_citations() -> None:
    assert harvest_citations("Sunny in Paris") == []
    assert harvest_citations('{"temperature": 21}') == []
    assert harvest_citations('[{"url": "javascript:alert(1)"}]') == []


def test_a_result_gives_at_most_a_bounded_number_of_citations() -> None:
    many = json.dumps([{"url": f"https://example.com/{n}"} for n in range(100)])
    assert len(harvest_citations(many)) == MAX_CITATIONS_PER_RESULT


def test_a_tool_card_is_open_webuis_tool_calls_details_block() -> None:
    card = tool_card_markdown(ToolRan("c1", "get_weather", '{"city":"Paris"}', "Sunny <b>"))
    assert card.startswith('\n<details type="tool_calls" done="true" id="c1" name="get_weather" ')
    arguments = html.escape(json.dumps('{"city":"Paris"}'))
    assert f'arguments="{arguments}"' in card
    assert f'result="{html.escape(json.dumps("Sunny <b>"))}"' in card
    assert card.endswith("<summary>Tool Executed</summary>\n</details>\n")


def test_a_failed_tool_card_says_so() -> None:
    card = tool_card_markdown(ToolRan("c1", "get_weather", "{}", "", error="timed out"))
    assert 'status="failed"' in card
    assert html.escape(json.dumps("timed out")) in card
