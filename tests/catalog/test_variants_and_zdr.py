"""Variant/preset expansion, ZDR annotation and filtering, and the refresh's extra sources."""

from __future__ import annotations

from typing import Any

import pytest

from pipe_service.catalog.filters import CatalogFilterOptions
from pipe_service.catalog.registry import ModelRegistry
from pipe_service.catalog.sources import (
    CatalogSources,
    SourcePlan,
    fetch_sources,
    provider_tags,
    zdr_model_ids,
)
from pipe_service.catalog.variants import parse_variant

ROWS: dict[str, Any] = {
    "data": [
        {"id": "acme/paid", "canonical_slug": "acme/paid-2026", "name": "Acme Paid",
         "pricing": {"prompt": "0.000001", "completion": "0.000002"},
         "supported_parameters": ["tools"]},
        {"id": "acme/paid:free", "canonical_slug": "acme/paid-2026", "name": "Acme Paid (free)"},
        {"id": "acme/other", "name": "Acme Other",
         "pricing": {"prompt": "0.000001", "completion": "0.000002"}},
    ]
}  # fmt: skip


def registry(**options: Any) -> ModelRegistry:
    return ModelRegistry.from_payload(ROWS, CatalogFilterOptions(**options), **_extra(options))


def _extra(options: dict[str, Any]) -> dict[str, Any]:
    return {"zdr_model_ids": frozenset({"acme/paid-2026"})}


@pytest.mark.parametrize(
    ("entry", "model_id", "base", "label"),
    [
        ("acme/paid:nitro", "acme/paid:nitro", "acme/paid", "nitro"),
        ("  acme/paid:online ", "acme/paid:online", "acme/paid", "online"),
        ("@preset/coder=acme/paid", "@preset/coder", "acme/paid", "preset coder"),
    ],
)
def test_parse_variant(entry: str, model_id: str, base: str, label: str) -> None:
    spec = parse_variant(entry)
    assert (spec.model_id, spec.base, spec.label) == (model_id, base, label)


@pytest.mark.parametrize(
    "entry", ["acme/paid", "acme/paid:turbo", ":nitro", "@preset/coder", "@preset/=acme/paid"]
)
def test_bad_variant_entries_are_refused_with_the_expected_form(entry: str) -> None:
    with pytest.raises(ValueError, match="variant_models entry"):
        parse_variant(entry)


def test_a_bad_variant_setting_fails_validation_naming_the_entry() -> None:
    with pytest.raises(ValueError, match="acme/paid:turbo"):
        CatalogFilterOptions(variant_models=("acme/paid:turbo",))


def test_variants_follow_their_base_and_inherit_its_metadata() -> None:
    models = registry(variant_models=("acme/paid:nitro", "@preset/coder=acme/paid")).list()
    ids = [model.slug for model in models]
    assert ids == ["acme/paid", "acme/paid:nitro", "@preset/coder", "acme/paid:free", "acme/other"]
    nitro = models[1]
    assert nitro.name == "Acme Paid (nitro)"
    assert nitro.tools
    assert nitro.zdr is True
    assert nitro.base_slug == "acme/paid"
    assert nitro.pricing == models[0].pricing


def test_a_free_variant_of_a_paid_model_counts_as_free() -> None:
    # From issue 10's filter tests: the seed's VARIANT_MODELS accepts ':free' too.
    models = registry(variant_models=("acme/other:free",)).list()
    free = next(model for model in models if model.slug == "acme/other:free")
    assert free.is_free
    assert free.name == "Acme Other (free)"


def test_a_variant_of_a_filtered_out_model_is_not_offered() -> None:
    models = registry(model_allowlist="acme/other", variant_models=("acme/paid:nitro",))
    assert [model.slug for model in models] == ["acme/other"]


def test_zdr_marks_listed_permaslugs_but_never_free_models() -> None:
    by_id = {model.slug: model.zdr for model in registry()}
    assert by_id == {"acme/paid": True, "acme/paid:free": False, "acme/other": False}


def test_zdr_only_keeps_zdr_models() -> None:
    assert [model.slug for model in registry(zdr_only=True)] == ["acme/paid"]


def test_zdr_unknown_hides_everything_in_a_zdr_only_catalog() -> None:
    unknown = ModelRegistry.from_payload(ROWS, CatalogFilterOptions(zdr_only=True))
    assert len(unknown) == 0


def test_zdr_ids_come_from_endpoint_model_ids() -> None:
    document = {"data": [{"model_id": "a/b-1", "tag": "x"}, {"model_id": 5}, "junk"]}
    assert zdr_model_ids(document) == frozenset({"a/b-1"})
    with pytest.raises(ValueError, match="data"):
        zdr_model_ids({"nope": []})


def test_provider_tags_keep_order_without_duplicates() -> None:
    document = {"data": {"endpoints": [{"tag": "a"}, {"tag": "b/fp8"}, {"tag": "a"}, {}]}}
    assert provider_tags(document) == ("a", "b/fp8")
    with pytest.raises(ValueError, match="endpoints"):
        provider_tags({"data": {}})


class FakeClient:
    def __init__(self, *, zdr_fails: bool = False, endpoints_fail: bool = False) -> None:
        self.zdr_fails = zdr_fails
        self.endpoints_fail = endpoints_fail
        self.endpoint_calls: list[str] = []

    async def list_models(self) -> dict[str, Any]:
        return ROWS

    async def list_zdr_endpoints(self) -> dict[str, Any]:
        if self.zdr_fails:
            raise RuntimeError("zdr down")
        return {"data": [{"model_id": "acme/paid-2026"}]}

    async def list_model_endpoints(self, slug: str) -> dict[str, Any]:
        self.endpoint_calls.append(slug)
        if self.endpoints_fail:
            raise RuntimeError("endpoints down")
        return {"data": {"endpoints": [{"tag": "p1"}, {"tag": "p2"}]}}


async def test_a_plain_plan_fetches_only_models() -> None:
    client = FakeClient()
    sources = await fetch_sources(client, SourcePlan())
    assert sources == CatalogSources(models=ROWS)


async def test_routed_models_get_their_provider_lists_up_to_the_cap() -> None:
    client = FakeClient()
    plan = SourcePlan(routed=("acme/*",), max_endpoint_lists=2)
    sources = await fetch_sources(client, plan)
    assert client.endpoint_calls == ["acme/paid", "acme/paid:free"]
    assert sources.providers == {"acme/paid": ("p1", "p2"), "acme/paid:free": ("p1", "p2")}
    routed = ModelRegistry.from_sources(sources, CatalogFilterOptions())
    assert routed.require("acme/paid").providers == ("p1", "p2")


async def test_a_failed_endpoint_list_leaves_providers_unknown() -> None:
    sources = await fetch_sources(FakeClient(endpoints_fail=True), SourcePlan(routed=("acme/*",)))
    assert sources.providers == {}


async def test_a_failed_zdr_list_leaves_zdr_unknown_unless_required() -> None:
    optional = await fetch_sources(FakeClient(zdr_fails=True), SourcePlan(want_zdr=True))
    assert optional.zdr_model_ids is None
    with pytest.raises(RuntimeError, match="zdr down"):
        await fetch_sources(FakeClient(zdr_fails=True), SourcePlan(zdr_required=True))


def test_video_generation_models_are_never_zdr() -> None:
    rows = {"data": [{"id": "acme/video", "architecture": {"output_modalities": ["video"]}}]}
    zdr = frozenset({"acme/video"})
    model = ModelRegistry.from_payload(rows, CatalogFilterOptions(), zdr_model_ids=zdr)
    assert model.require("acme/video").zdr is False
