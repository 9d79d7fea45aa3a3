"""The real OpenRouter ``/models`` snapshot shared by the catalog, transform and shim tests.

The file ships in the repo (``tests/fixtures/openrouter-models.json``, derived from the shared
371-model payload; see ``tests/fixtures/README.md``), so these tests run on any fresh clone.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

FIXTURE_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "openrouter-models.json"


@cache
def _rows() -> tuple[dict[str, Any], ...]:
    raw = json.loads(FIXTURE_PATH.read_text(encoding="utf-8"))
    rows = raw["data"]
    assert isinstance(rows, list)
    return tuple(rows)


def load_fixture_rows() -> list[dict[str, Any]]:
    """The fixture's model rows (fresh copies: callers may mutate them)."""
    return json.loads(json.dumps(list(_rows())))  # type: ignore[no-any-return]


def fixture_ids() -> list[str]:
    """Every model id of the fixture, for parametrization at collection time."""
    return [str(row["id"]) for row in _rows()]
