"""capabilities_from_row on synthetic rows: tolerance of missing fields and each derivation rule."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from pipe_service.catalog.capabilities import ModelPricing, capabilities_from_row


def row(**fields: Any) -> dict[str, Any]:
    return {"id": "acme/model", **fields}


def test_row_without_id_is_rejected_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no 'id'"):
        capabilities_from_row({"name": "nameless"})


def test_row_with_blank_id_is_rejected() -> None:
    with pytest.raises(ValueError, match="no 'id'"):
        capabilities_from_row({"id": "  "})


def test_bare_row_yields_conservative_defaults() -> None:
    caps = capabilities_from_row({"id": "acme/model"})
    assert caps.slug == "acme/model"
    assert caps.name == "acme/model"
    assert caps.description == ""
    assert caps.context_length is None
    assert caps.max_output_tokens is None
    assert caps.output_modalities == frozenset({"text"})
    assert not caps.tools
    assert not caps.reasoning
    assert not caps.input_image
    assert not caps.web_search
    assert caps.pricing == ModelPricing()


def test_null_sections_are_tolerated() -> None:
    caps = capabilities_from_row(
        row(
            architecture=None,
            pricing=None,
            top_provider=None,
            supported_parameters=None,
            context_length=None,
            created=None,
        )
    )
    assert caps.supported_parameters == frozenset()
    assert caps.created is None


def test_mistyped_fields_degrade_to_unknown() -> None:
    caps = capabilities_from_row(
        row(context_length="big", created=True, supported_parameters="tools", name=7)
    )
    assert caps.context_length is None
    assert caps.created is None
    assert not caps.tools
    assert caps.name == "acme/model"


def test_context_length_falls_back_to_top_provider() -> None:
    caps = capabilities_from_row(row(top_provider={"context_length": 8192}))
    assert caps.context_length == 8192


def test_max_output_tokens_comes_from_top_provider() -> None:
    caps = capabilities_from_row(row(top_provider={"max_completion_tokens": 4096}))
    assert caps.max_output_tokens == 4096


@pytest.mark.parametrize(
    ("modality", "attribute"),
    [
        ("image", "input_image"),
        ("file", "input_file"),
        ("audio", "input_audio"),
        ("video", "input_video"),
    ],
)
def test_input_modality_sets_its_flag(modality: str, attribute: str) -> None:
    caps = capabilities_from_row(row(architecture={"input_modalities": ["text", modality]}))
    assert getattr(caps, attribute) is True


def test_output_modalities_are_kept() -> None:
    caps = capabilities_from_row(row(architecture={"output_modalities": ["text", "image"]}))
    assert caps.output_image
    assert not caps.output_audio


@pytest.mark.parametrize(
    ("parameter", "attribute"),
    [
        ("reasoning", "reasoning"),
        ("include_reasoning", "reasoning"),
        ("tools", "tools"),
        ("tool_choice", "tools"),
        ("parallel_tool_calls", "parallel_tool_calls"),
        ("structured_outputs", "structured_outputs"),
        ("response_format", "structured_outputs"),
        ("web_search_options", "web_search"),
    ],
)
def test_supported_parameter_sets_its_flag(parameter: str, attribute: str) -> None:
    caps = capabilities_from_row(row(supported_parameters=[parameter]))
    assert getattr(caps, attribute) is True
    assert caps.supports(parameter)


def test_priced_web_search_counts_as_native_search() -> None:
    caps = capabilities_from_row(row(pricing={"prompt": "1", "web_search": "0.01"}))
    assert caps.web_search


def test_zero_priced_web_search_is_not_native_search() -> None:
    caps = capabilities_from_row(row(pricing={"web_search": "0"}))
    assert not caps.web_search


def test_prices_parse_as_decimals_and_missing_keys_are_zero() -> None:
    caps = capabilities_from_row(row(pricing={"prompt": "0.0000025", "completion": "0.00001"}))
    assert caps.pricing.prompt == Decimal("0.0000025")
    assert caps.pricing.completion == Decimal("0.00001")
    assert caps.pricing.input_cache_write == Decimal(0)


def test_router_sentinel_price_is_unknown() -> None:
    caps = capabilities_from_row(row(pricing={"prompt": "-1", "completion": "-1"}))
    assert caps.pricing.prompt is None
    assert caps.pricing.completion is None


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity", "-0.5", [], True])
def test_unparsable_or_negative_price_is_unknown(bad: object) -> None:
    caps = capabilities_from_row(row(pricing={"prompt": bad}))
    assert caps.pricing.prompt is None


def test_free_suffix_makes_a_model_free_whatever_its_price() -> None:
    caps = capabilities_from_row(
        {"id": "acme/model:free", "pricing": {"prompt": "1", "completion": "1"}}
    )
    assert caps.is_free


def test_zero_prompt_and_completion_price_makes_a_model_free() -> None:
    caps = capabilities_from_row(row(pricing={"prompt": "0", "completion": "0"}))
    assert caps.is_free


def test_missing_pricing_counts_as_zero_and_free() -> None:
    assert capabilities_from_row(row()).is_free


def test_unknown_price_is_not_free() -> None:
    caps = capabilities_from_row(row(pricing={"prompt": "-1", "completion": "-1"}))
    assert not caps.is_free


def test_paid_completion_is_not_free() -> None:
    caps = capabilities_from_row(row(pricing={"prompt": "0", "completion": "0.000001"}))
    assert not caps.is_free
