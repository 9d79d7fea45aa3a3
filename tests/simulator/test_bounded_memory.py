"""The simulator's memory stays bounded on huge inputs (issue 9: a 30 MiB message used to be
split into millions of words to echo twelve of them; a huge tool output was quoted whole)."""

from __future__ import annotations

import tracemalloc

from pipe_service.simulator.request_view import build_turn_request
from pipe_service.simulator.scenarios.base import QUOTE_CHARS, echo_of, quoted

MIB = 1024 * 1024


def test_echoing_a_huge_message_allocates_almost_nothing() -> None:
    text = "a " * (4 * MIB)
    request = build_turn_request({"model": "sim/text", "input": text}, "sim/text")
    tracemalloc.start()
    try:
        echo = echo_of(request)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert echo == " ".join(["a"] * 12)
    assert peak < 256 * 1024


def test_a_huge_tool_output_is_quoted_up_to_the_bound() -> None:
    output = "x" * (QUOTE_CHARS + 10)
    quote = quoted(output)
    assert len(quote) == QUOTE_CHARS + 1
    assert quote.endswith("…")
    assert quoted("short") == "short"
