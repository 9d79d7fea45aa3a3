"""Loads the real OpenRouter ``/models`` snapshot shared by the catalog and transform tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

FIXTURE_PATH = (
    Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "openrouter-models.json"
)
SKIP_REASON = f"real catalog fixture not found at {FIXTURE_PATH}"


def load_fixture_rows() -> list[dict[str, Any]]:
    """The fixture's model rows (``{"data": [...]}`` or a bare list); skips the test if absent."""
    if not FIXTURE_PATH.is_file():
        pytest.skip(SKIP_REASON)
    raw = json.loads(FIXTURE_PATH.read_text(encoding="utf-8"))
    rows = raw["data"] if isinstance(raw, dict) else raw
    assert isinstance(rows, list)
    return rows


def fixture_ids_or_empty() -> list[str]:
    """Model ids for parametrization at collection time; empty when the fixture is absent."""
    if not FIXTURE_PATH.is_file():
        return []
    raw = json.loads(FIXTURE_PATH.read_text(encoding="utf-8"))
    rows = raw["data"] if isinstance(raw, dict) else raw
    return [row["id"] for row in rows]
