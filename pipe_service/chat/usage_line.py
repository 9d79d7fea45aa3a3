"""The final usage status line shown under a reply.

Same layout as the seed pipe's banner, in two user-selectable styles::

    text:  Time: 12.34s  45.6 tps | Cost $0.0012 | Total tokens: 1234 (Input: 1000, Output: 234,
           Cached: 500, Reasoning: 100) | openai/gpt-5
    icons: ⧗ 12.34s  45.6 tps | $0.0012 | ⇅ 1234 (▲ 1000, ▼ 234, ↺ 500, ▽ 100) | openai/gpt-5

Parts that are absent or zero are left out: no cost when the upstream reported none, no cached or
reasoning count when zero, no token segment (and no tokens/s) without token counts, no model when
none is given. Tokens per second are output tokens over the elapsed time.
"""

from __future__ import annotations

from typing import Final, Literal, NamedTuple

from pipe_service.openrouter.usage import Usage

UsageLineStyle = Literal["text", "icons"]


class UsageIcons(NamedTuple):
    """The icon of each field in the ``icons`` style."""

    time: str = "⧗"
    cost: str = "$"
    total: str = "⇅"
    input: str = "▲"
    output: str = "▼"
    cached: str = "↺"
    reasoning: str = "▽"


DEFAULT_USAGE_ICONS: Final = UsageIcons()
SEGMENT_SEPARATOR: Final = " | "


def format_usage_line(
    usage: Usage | None,
    *,
    elapsed_s: float,
    style: UsageLineStyle,
    model: str | None = None,
    icons: UsageIcons = DEFAULT_USAGE_ICONS,
) -> str:
    """Render the usage line; ``usage=None`` gives just the elapsed time (and model)."""
    use_icons = style == "icons"
    time_segment = f"{icons.time} {elapsed_s:.2f}s" if use_icons else f"Time: {elapsed_s:.2f}s"
    segments: list[str] = []
    if usage is not None:
        if usage.output_tokens > 0 and elapsed_s > 0:
            time_segment += f"  {usage.output_tokens / elapsed_s:.1f} tps"
        if usage.cost is not None and usage.cost > 0:
            segments.append(_cost(usage.cost, use_icons, icons.cost))
        if usage.total_tokens > 0:
            segments.append(_tokens(usage, use_icons, icons))
    segments.insert(0, time_segment)
    if model:
        segments.append(model)
    return SEGMENT_SEPARATOR.join(segments)


def _cost(cost: float, use_icons: bool, icon: str) -> str:
    # Up to six decimals, trailing zeros dropped: $0.0012, $1.5.
    amount = f"{cost:.6f}".rstrip("0").rstrip(".")
    if not use_icons:
        return f"Cost ${amount}"
    return f"{icon}{amount}" if icon == "$" else f"{icon} {amount}"


def _tokens(usage: Usage, use_icons: bool, icons: UsageIcons) -> str:
    details = [
        ("Input", icons.input, usage.input_tokens),
        ("Output", icons.output, usage.output_tokens),
    ]
    if usage.cached_tokens > 0:
        details.append(("Cached", icons.cached, usage.cached_tokens))
    if usage.reasoning_tokens > 0:
        details.append(("Reasoning", icons.reasoning, usage.reasoning_tokens))
    if use_icons:
        inner = ", ".join(f"{icon} {value}" for _, icon, value in details)
        return f"{icons.total} {usage.total_tokens} ({inner})"
    inner = ", ".join(f"{label}: {value}" for label, _, value in details)
    return f"Total tokens: {usage.total_tokens} ({inner})"
