"""format_usage_line: the seed's final status line, in text and icon styles."""

from __future__ import annotations

from pipe_service.chat.usage_line import UsageIcons, format_usage_line
from pipe_service.openrouter.usage import Usage

FULL = Usage(
    input_tokens=1000, output_tokens=234, cached_tokens=500, reasoning_tokens=100, cost=0.0012
)


def test_text_style_with_every_part() -> None:
    line = format_usage_line(FULL, elapsed_s=4.68, style="text", model="openai/gpt-5")
    assert line == (
        "Time: 4.68s  50.0 tps | Cost $0.0012 | Total tokens: 1234 "
        "(Input: 1000, Output: 234, Cached: 500, Reasoning: 100) | openai/gpt-5"
    )


def test_icon_style_with_every_part() -> None:
    line = format_usage_line(FULL, elapsed_s=4.68, style="icons")
    assert line == "⧗ 4.68s  50.0 tps | $0.0012 | ⇅ 1234 (▲ 1000, ▼ 234, ↺ 500, ▽ 100)"


def test_zero_cached_and_reasoning_are_omitted() -> None:
    usage = Usage(input_tokens=10, output_tokens=20, cost=0.5)
    line = format_usage_line(usage, elapsed_s=2.0, style="text")
    assert line == "Time: 2.00s  10.0 tps | Cost $0.5 | Total tokens: 30 (Input: 10, Output: 20)"


def test_unknown_or_zero_cost_is_omitted() -> None:
    for cost in (None, 0.0):
        usage = Usage(input_tokens=1, output_tokens=1, cost=cost)
        assert "Cost" not in format_usage_line(usage, elapsed_s=1.0, style="text")


def test_cost_keeps_six_decimals_at_most() -> None:
    usage = Usage(input_tokens=1, output_tokens=1, cost=0.0257061234)
    assert "Cost $0.025706 " in format_usage_line(usage, elapsed_s=1.0, style="text")


def test_no_usage_gives_time_only() -> None:
    assert format_usage_line(None, elapsed_s=1.234, style="text") == "Time: 1.23s"


def test_zero_tokens_omit_token_segment_and_rate() -> None:
    assert format_usage_line(Usage(), elapsed_s=3.0, style="icons", model="m") == "⧗ 3.00s | m"


def test_zero_elapsed_omits_rate() -> None:
    line = format_usage_line(Usage(output_tokens=5), elapsed_s=0.0, style="text")
    assert line == "Time: 0.00s | Total tokens: 5 (Input: 0, Output: 5)"


def test_custom_icons_with_non_dollar_cost_icon_get_a_space() -> None:
    icons = UsageIcons(time="T", cost="€")
    line = format_usage_line(
        Usage(input_tokens=1, output_tokens=1, cost=0.1), elapsed_s=1.0, style="icons", icons=icons
    )
    assert line.startswith("T 1.00s  1.0 tps | € 0.1 | ")
