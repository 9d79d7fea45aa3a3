"""The shim's own slug encoding equals the sidecar's (``pipe_service.catalog.model_ids``)."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest

from pipe_service.catalog.model_ids import slug_to_owui_id

FIXTURE = (
    Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "openrouter-models.json"
)


def _fixture_slugs() -> list[str]:
    if not FIXTURE.exists():
        pytest.skip(f"{FIXTURE} is absent (the shared OpenRouter catalog fixture)")
    document = json.loads(FIXTURE.read_text(encoding="utf-8"))
    rows = document["data"] if isinstance(document, dict) else document
    return [row["id"] for row in rows]


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
