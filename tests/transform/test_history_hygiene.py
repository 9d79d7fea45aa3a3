"""Earlier assistant messages go upstream without Open WebUI's rendered blocks or hidden markers."""

from __future__ import annotations

from typing import Any

from pipe_service.transform.history_hygiene import clean_assistant_text
from tests.transform.models import body, build

REASONING = (
    '<details type="reasoning" done="true" duration="2">\n'
    "<summary>Thought for 2 seconds</summary>\n> The user wants a greeting.\n</details>\n"
)
TOOL_CARD = (
    '<details type="tool_calls" done="true" id="call_1" name="get_weather" '
    'arguments="{&quot;city&quot;:&quot;Paris&quot;}" result="&quot;Sunny&quot;">\n'
    "<summary>Tool Executed</summary>\n</details>\n"
)


def _assistant_texts(content: Any) -> list[str]:
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": content},
        {"role": "user", "content": "again"},
    ]
    payload = build(body(messages=messages))
    return [
        part["text"]
        for item in payload["input"]
        if item.get("role") == "assistant"
        for part in item["content"]
    ]


def test_a_reasoning_block_is_not_sent_back() -> None:
    assert _assistant_texts(REASONING + "Hello!") == ["Hello!"]


def test_a_tool_card_is_not_sent_back() -> None:
    assert _assistant_texts(TOOL_CARD + "It is sunny.") == ["It is sunny."]


def test_hidden_markers_are_not_sent_back() -> None:
    text = 'The answer.\n\n[01J8ZKQ4X2ABCDEFGH1J]: #\n[01J8ZKQ4X2ABCDEFGH1K]: # "tool"\n'
    assert _assistant_texts(text) == ["The answer."]


def test_list_content_parts_are_cleaned_too() -> None:
    assert _assistant_texts([{"type": "text", "text": REASONING + "Hi."}]) == ["Hi."]


def test_a_message_that_was_only_markup_sends_no_text() -> None:
    assert _assistant_texts(REASONING) == []


def test_ordinary_text_and_links_are_kept_verbatim() -> None:
    text = "See [the docs][1].\n\n[1]: https://example.com/docs\n<details><summary>x</summary>y</details>"
    assert clean_assistant_text(text) == text


def test_user_messages_are_left_alone() -> None:
    payload = build(body(messages=[{"role": "user", "content": REASONING + "quoting this"}]))
    assert payload["input"][0]["content"][0]["text"] == REASONING + "quoting this"
