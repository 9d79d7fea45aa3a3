"""ModelRegistry: building from a /models payload, lookups and filtering."""

from __future__ import annotations

import pytest

from pipe_service.catalog.filters import CatalogFilterOptions
from pipe_service.catalog.registry import CatalogPayloadError, ModelRegistry, UnknownModelError
from tests.catalog.fixture_catalog import load_fixture_rows

PAYLOAD = {
    "data": [
        {"id": "openai/gpt-4o", "name": "GPT-4o", "supported_parameters": ["tools"]},
        {"id": "google/gemma-3-27b-it:free"},
        {"name": "row without id"},
        "not a row",
        {"id": "anthropic/claude-sonnet-4.5", "name": "Claude"},
    ]
}


def build(options: CatalogFilterOptions | None = None) -> ModelRegistry:
    return ModelRegistry.from_payload(PAYLOAD, options or CatalogFilterOptions(), fetched_at=42.0)


def test_registry_holds_valid_rows_in_catalog_order() -> None:
    assert [model.slug for model in build().list()] == [
        "openai/gpt-4o",
        "google/gemma-3-27b-it:free",
        "anthropic/claude-sonnet-4.5",
    ]


def test_malformed_rows_are_skipped_and_counted() -> None:
    assert build().skipped_rows == 2


def test_len_counts_models() -> None:
    assert len(build()) == 3


def test_fetched_at_is_kept() -> None:
    assert build().fetched_at == 42.0


def test_get_returns_the_model() -> None:
    model = build().get("openai/gpt-4o")
    assert model is not None
    assert model.name == "GPT-4o"


def test_get_unknown_returns_none() -> None:
    assert build().get("openai/nope") is None


def test_require_unknown_raises_naming_the_slug() -> None:
    with pytest.raises(UnknownModelError, match="'openai/nope'") as caught:
        build().require("openai/nope")
    assert caught.value.slug == "openai/nope"


def test_filters_apply_when_building() -> None:
    registry = build(CatalogFilterOptions(tool_calling_mode="only"))
    assert [model.slug for model in registry] == ["openai/gpt-4o"]


def test_filtered_out_model_is_unknown() -> None:
    registry = build(CatalogFilterOptions(free_mode="exclude"))
    with pytest.raises(UnknownModelError):
        registry.require("google/gemma-3-27b-it:free")


def test_bare_row_list_is_accepted() -> None:
    registry = ModelRegistry.from_payload([{"id": "a/b"}], CatalogFilterOptions(), fetched_at=0.0)
    assert "a/b" in registry


@pytest.mark.parametrize("payload", [{}, {"data": None}, {"data": "x"}, {"models": []}])
def test_payload_without_a_data_list_is_rejected(payload: dict[str, object]) -> None:
    with pytest.raises(CatalogPayloadError, match="'data'"):
        ModelRegistry.from_payload(payload, CatalogFilterOptions())


def test_duplicate_slug_keeps_the_later_row() -> None:
    payload = {"data": [{"id": "a/b", "name": "first"}, {"id": "a/b", "name": "second"}]}
    registry = ModelRegistry.from_payload(payload, CatalogFilterOptions(), fetched_at=0.0)
    assert registry.require("a/b").name == "second"
    assert len(registry) == 1


def test_fetched_at_defaults_to_a_wall_clock_time() -> None:
    registry = ModelRegistry.from_payload(PAYLOAD, CatalogFilterOptions())
    assert registry.fetched_at > 1_700_000_000


def test_real_catalog_builds_all_rows() -> None:
    registry = ModelRegistry.from_payload({"data": load_fixture_rows()}, CatalogFilterOptions())
    assert len(registry) == 371
    assert registry.skipped_rows == 0


def test_real_catalog_glob_allowlist() -> None:
    options = CatalogFilterOptions(model_allowlist="anthropic/*")
    registry = ModelRegistry.from_payload({"data": load_fixture_rows()}, options)
    assert len(registry) > 0
    assert all(model.slug.startswith("anthropic/") for model in registry)
