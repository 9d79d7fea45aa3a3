"""Derived capabilities of real models from the 2026-05-01 ``/models`` snapshot.

Expected values were read from the raw fixture rows by hand; each case is one model chosen
for a different shape (reasoning, vision, audio/video, image output, free, router, …).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from pipe_service.catalog.capabilities import ModelCapabilities, capabilities_from_row
from tests.catalog.fixture_catalog import load_fixture_rows

D = Decimal
ZERO = Decimal(0)


@dataclass(frozen=True)
class Expected:
    slug: str
    name: str
    created: int
    context_length: int
    max_output_tokens: int | None
    inputs: frozenset[str]  # of image, file, audio, video
    outputs: frozenset[str]
    reasoning: bool
    tools: bool
    parallel_tool_calls: bool
    structured_outputs: bool
    web_search: bool
    is_free: bool
    prompt: Decimal | None
    completion: Decimal | None
    web_search_price: Decimal | None = ZERO
    input_cache_read: Decimal | None = ZERO


def fs(*items: str) -> frozenset[str]:
    return frozenset(items)


CASES = [
    # GPT-4o: vision + file, tools, structured outputs, native search via web_search_options.
    Expected("openai/gpt-4o", "OpenAI: GPT-4o", 1715558400, 128000, 16384, fs("image", "file"),
             fs("text"), False, True, False, True, True, False, D("0.0000025"), D("0.00001")),
    # o3: reasoning model with priced native search and cache-read pricing.
    Expected("openai/o3", "OpenAI: o3", 1744823457, 200000, 100000, fs("image", "file"),
             fs("text"), True, True, False, True, True, False, D("0.000002"), D("0.000008"),
             web_search_price=D("0.01"), input_cache_read=D("0.0000005")),
    # GPT-5: reasoning, no native search signal at all.
    Expected("openai/gpt-5", "OpenAI: GPT-5", 1754587413, 400000, 128000, fs("image", "file"),
             fs("text"), True, True, False, True, False, False, D("0.00000125"), D("0.00001"),
             input_cache_read=D("0.000000125")),
    Expected("anthropic/claude-sonnet-4.5", "Anthropic: Claude Sonnet 4.5", 1759161676, 1000000,
             64000, fs("image", "file"), fs("text"), True, True, False, True, True, False,
             D("0.000003"), D("0.000015"), web_search_price=D("0.01"),
             input_cache_read=D("0.0000003")),
    # A ':thinking' variant without structured outputs.
    Expected("anthropic/claude-3.7-sonnet:thinking", "Anthropic: Claude 3.7 Sonnet (thinking)",
             1740422110, 200000, 64000, fs("image", "file"), fs("text"), True, True, False, False,
             True, False, D("0.000003"), D("0.000015"), web_search_price=D("0.01"),
             input_cache_read=D("0.0000003")),
    # Gemini: every input modality, including audio and video.
    Expected("google/gemini-2.5-flash", "Google: Gemini 2.5 Flash", 1750172488, 1048576, 65535,
             fs("image", "file", "audio", "video"), fs("text"), True, True, False, True, True,
             False, D("0.0000003"), D("0.0000025"), web_search_price=D("0.014"),
             input_cache_read=D("0.00000003")),
    # ':free' model without tools.
    Expected("google/gemma-3-27b-it:free", "Google: Gemma 3 27B (free)", 1741756359, 131072, 8192,
             fs("image"), fs("text"), False, False, False, True, False, True, D(0), D(0)),
    # Router with "-1" prices: unknown, hence not free; image output; no max output tokens.
    Expected("openrouter/auto", "Auto Router", 1699401600, 2000000, None,
             fs("image", "audio", "file", "video"), fs("text", "image"), True, True, False, True,
             True, False, None, None),
    # Free router without the ':free' suffix (zero prices).
    Expected("openrouter/free", "Free Models Router", 1769917427, 200000, None, fs("image"),
             fs("text"), True, True, False, True, False, True, D(0), D(0)),
    # Image-output model without tools.
    Expected("google/gemini-2.5-flash-image", "Google: Nano Banana (Gemini 2.5 Flash Image)",
             1759870431, 32768, 32768, fs("image"), fs("image", "text"), False, False, False,
             True, True, False, D("0.0000003"), D("0.0000025"), web_search_price=D("0.014"),
             input_cache_read=D("0.00000003")),
    # Search-native model that cannot call tools.
    Expected("perplexity/sonar", "Perplexity: Sonar", 1738013808, 127072, None, fs("image"),
             fs("text"), False, False, False, False, True, False, D("0.000001"), D("0.000001"),
             web_search_price=D("0.005")),
    # Audio in and audio out.
    Expected("openai/gpt-4o-audio-preview", "OpenAI: GPT-4o Audio", 1755233061, 128000, 16384,
             fs("audio"), fs("text", "audio"), False, True, False, True, False, False,
             D("0.0000025"), D("0.00001")),
    # Text-only open model with tools.
    Expected("ai21/jamba-large-1.7", "AI21: Jamba Large 1.7", 1754669020, 256000, 4096, fs(),
             fs("text"), False, True, False, True, False, False, D("0.000002"), D("0.000008")),
    # Text-only reasoning model without tools or structured outputs.
    Expected("aion-labs/aion-1.0", "AionLabs: Aion-1.0", 1738697557, 131072, 32768, fs(),
             fs("text"), True, False, False, False, False, False, D("0.000004"), D("0.000008")),
    # One of the few models listing parallel_tool_calls.
    Expected("minimax/minimax-m2.5", "MiniMax: MiniMax M2.5", 1770908502, 196608, 131072, fs(),
             fs("text"), True, True, True, True, False, False, D("0.00000015"), D("0.00000115"),
             input_cache_read=D("0.00000003")),
]  # fmt: skip


def inputs_of(caps: ModelCapabilities) -> frozenset[str]:
    flags = {
        "image": caps.input_image,
        "file": caps.input_file,
        "audio": caps.input_audio,
        "video": caps.input_video,
    }
    return frozenset(name for name, present in flags.items() if present)


@pytest.fixture(scope="module")
def rows_by_id() -> dict[str, dict[str, object]]:
    return {str(row["id"]): row for row in load_fixture_rows()}


@pytest.mark.parametrize("expected", CASES, ids=[case.slug for case in CASES])
def test_fixture_model_capabilities(
    expected: Expected, rows_by_id: dict[str, dict[str, object]]
) -> None:
    caps = capabilities_from_row(rows_by_id[expected.slug])
    assert caps.slug == expected.slug
    assert caps.name == expected.name
    assert caps.created == expected.created
    assert caps.context_length == expected.context_length
    assert caps.max_output_tokens == expected.max_output_tokens
    assert inputs_of(caps) == expected.inputs
    assert caps.output_modalities == expected.outputs
    assert caps.reasoning is expected.reasoning
    assert caps.tools is expected.tools
    assert caps.parallel_tool_calls is expected.parallel_tool_calls
    assert caps.structured_outputs is expected.structured_outputs
    assert caps.web_search is expected.web_search
    assert caps.is_free is expected.is_free
    assert caps.pricing.prompt == expected.prompt
    assert caps.pricing.completion == expected.completion
    assert caps.pricing.web_search == expected.web_search_price
    assert caps.pricing.input_cache_read == expected.input_cache_read
    assert caps.description


def test_every_fixture_row_derives_without_error() -> None:
    rows = load_fixture_rows()
    derived = [capabilities_from_row(row) for row in rows]
    assert len(derived) == 371
    assert sum(caps.is_free for caps in derived) >= 29  # 29 ':free' ids plus zero-priced ones
    assert sum(caps.tools for caps in derived) == 272
    assert sum(caps.reasoning for caps in derived) == 192
