"""Catalog filters: allowlist with globs, free mode, tool-calling mode."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipe_service.catalog.capabilities import ModelCapabilities, capabilities_from_row
from pipe_service.catalog.filters import CatalogFilterOptions, filter_models

PAID = {"prompt": "0.000001", "completion": "0.000002"}
MODELS = [
    capabilities_from_row({"id": "anthropic/claude-sonnet-4.5", "pricing": PAID,
                           "supported_parameters": ["tools"]}),
    capabilities_from_row({"id": "anthropic/claude-3.7-sonnet:thinking", "pricing": PAID,
                           "supported_parameters": ["tools"]}),
    capabilities_from_row({"id": "openai/gpt-4o", "pricing": PAID,
                           "supported_parameters": ["tool_choice"]}),
    capabilities_from_row({"id": "google/gemma-3-27b-it:free", "pricing": PAID}),
    capabilities_from_row({"id": "openrouter/free", "pricing": {"prompt": "0", "completion": "0"},
                           "supported_parameters": ["tools"]}),
    capabilities_from_row({"id": "openrouter/auto",
                           "pricing": {"prompt": "-1", "completion": "-1"}}),
]  # fmt: skip


def slugs(models: list[ModelCapabilities]) -> list[str]:
    return [model.slug for model in models]


def test_defaults_keep_every_model_in_order() -> None:
    assert slugs(filter_models(MODELS, CatalogFilterOptions())) == slugs(MODELS)


def test_allowlist_keeps_exact_slugs_only() -> None:
    options = CatalogFilterOptions(model_allowlist="openai/gpt-4o, openrouter/auto")
    assert slugs(filter_models(MODELS, options)) == ["openai/gpt-4o", "openrouter/auto"]


def test_allowlist_glob_matches_an_author() -> None:
    options = CatalogFilterOptions(model_allowlist="anthropic/*")
    assert slugs(filter_models(MODELS, options)) == [
        "anthropic/claude-sonnet-4.5",
        "anthropic/claude-3.7-sonnet:thinking",
    ]


def test_allowlist_glob_matches_a_variant_suffix() -> None:
    options = CatalogFilterOptions(model_allowlist="*:free")
    assert slugs(filter_models(MODELS, options)) == ["google/gemma-3-27b-it:free"]


def test_allowlist_is_case_sensitive() -> None:
    options = CatalogFilterOptions(model_allowlist="OpenAI/*")
    assert filter_models(MODELS, options) == []


def test_auto_among_entries_allows_everything() -> None:
    options = CatalogFilterOptions(model_allowlist="openai/gpt-4o, auto")
    assert options.allowlist_patterns is None


@pytest.mark.parametrize("blank", ["", " ", " , "])
def test_blank_allowlist_is_rejected_with_the_fix(blank: str) -> None:
    with pytest.raises(ValidationError, match="use 'auto'"):
        CatalogFilterOptions(model_allowlist=blank)


def test_free_only_keeps_suffix_and_zero_priced_models() -> None:
    options = CatalogFilterOptions(free_mode="only")
    assert slugs(filter_models(MODELS, options)) == [
        "google/gemma-3-27b-it:free",
        "openrouter/free",
    ]


def test_free_exclude_keeps_paid_and_unknown_priced_models() -> None:
    options = CatalogFilterOptions(free_mode="exclude")
    assert slugs(filter_models(MODELS, options)) == [
        "anthropic/claude-sonnet-4.5",
        "anthropic/claude-3.7-sonnet:thinking",
        "openai/gpt-4o",
        "openrouter/auto",
    ]


def test_tool_calling_only_keeps_tools_or_tool_choice_models() -> None:
    options = CatalogFilterOptions(tool_calling_mode="only")
    assert slugs(filter_models(MODELS, options)) == [
        "anthropic/claude-sonnet-4.5",
        "anthropic/claude-3.7-sonnet:thinking",
        "openai/gpt-4o",
        "openrouter/free",
    ]


def test_tool_calling_exclude_keeps_models_without_tools() -> None:
    options = CatalogFilterOptions(tool_calling_mode="exclude")
    assert slugs(filter_models(MODELS, options)) == [
        "google/gemma-3-27b-it:free",
        "openrouter/auto",
    ]


def test_filters_combine() -> None:
    options = CatalogFilterOptions(
        model_allowlist="openrouter/*", free_mode="only", tool_calling_mode="only"
    )
    assert slugs(filter_models(MODELS, options)) == ["openrouter/free"]


def test_unknown_mode_is_rejected() -> None:
    with pytest.raises(ValidationError):
        CatalogFilterOptions(free_mode="some")


def test_a_variant_is_listed_after_its_base_with_the_variant_in_its_name() -> None:
    base = capabilities_from_row({"id": "openai/gpt-4o", "name": "GPT-4o"})
    other = capabilities_from_row({"id": "x/y", "name": "Y"})
    options = CatalogFilterOptions(variants=("openai/gpt-4o:nitro", "missing/base:free"))
    listed = filter_models([base, other], options)
    assert [(m.slug, m.name) for m in listed] == [
        ("openai/gpt-4o", "GPT-4o"),
        ("openai/gpt-4o:nitro", "GPT-4o (nitro)"),
        ("x/y", "Y"),
    ]


def test_a_free_variant_counts_as_free_for_the_free_filter() -> None:
    base = capabilities_from_row(
        {"id": "a/b", "pricing": {"prompt": "0.000001", "completion": "0.000002"}}
    )
    options = CatalogFilterOptions(variants=("a/b:free",), free_mode="only")
    assert [m.slug for m in filter_models([base], options)] == ["a/b:free"]


def test_a_variant_must_name_author_model_and_tag() -> None:
    with pytest.raises(ValidationError, match="variants: 'gpt-4o' is not 'author/model:variant'"):
        CatalogFilterOptions(variants=("gpt-4o",))
