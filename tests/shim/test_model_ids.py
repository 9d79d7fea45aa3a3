"""The shim's own slug encoding equals the sidecar's (``pipe_service.catalog.model_ids``)."""

from __future__ import annotations

import types

import pytest

from pipe_service.catalog.model_ids import slug_to_owui_id
from tests.catalog.fixture_catalog import fixture_ids


def _fixture_slugs() -> list[str]:
    return fixture_ids()


def test_every_catalog_slug_encodes_like_the_sidecar(shim: types.ModuleType) -> None:
    slugs = _fixture_slugs()
    assert len(slugs) > 100
    mismatches = [s for s in slugs if shim.slug_to_owui_id(s) != slug_to_owui_id(s)]
    assert mismatches == []


@pytest.mark.parametrize(
    "slug",
    ["anthropic/claude-3.7-sonnet:thinking", "~openai/gpt-latest", "a_b@c", "x/ÿ€😀", "a//b"],
)
def test_tricky_slugs_encode_like_the_sidecar(shim: types.ModuleType, slug: str) -> None:
    assert shim.slug_to_owui_id(slug) == slug_to_owui_id(slug)
