"""``docs/seed-valves.md`` stays true: every equivalent it names exists, its counts add up."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from pipe_service.config.settings import Settings
from tests.shim.harness import load_shim

DOC = Path(__file__).resolve().parents[2] / "docs" / "seed-valves.md"
ROW = re.compile(r"^\| (\d+) \| `([A-Z0-9_]+)`( †)? \| ([^|]*) \| ([^|]*) \|$", re.M)


def _rows(section: str) -> list[tuple[str, bool, str]]:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"## {section}")
    end = text.find("\n## ", start + 1)
    part = text[start : end if end != -1 else None]
    return [(m.group(2), bool(m.group(3)), m.group(4).strip()) for m in ROW.finditer(part)]


def _setting_exists(path: str) -> bool:
    model: Any = Settings
    for name in path.split("."):
        fields = model.model_fields if isinstance(model, type) else {}
        if name not in fields:
            return False
        annotation = fields[name].annotation
        model = (
            annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel)
            else None
        )
    return True


def test_every_seed_valve_has_a_row() -> None:
    assert len(_rows("Admin valves")) == 193
    assert len(_rows("User valves")) == 11


def test_every_named_valve_exists_in_the_shims_forms() -> None:
    shim = load_shim()
    admin = set(shim.Pipe.Valves.model_fields)
    user = set(shim.Pipe.UserValves.model_fields)
    for seed, _, equivalent in _rows("Admin valves") + _rows("User valves"):
        for valve in re.findall(r"(?<!user )valve `([A-Z0-9_]+)`", equivalent):
            assert valve in admin, f"{seed}: the shim has no valve {valve}"
        for valve in re.findall(r"user valve `([A-Z0-9_]+)`", equivalent):
            assert valve in user, f"{seed}: the shim has no user valve {valve}"


def test_every_named_setting_exists() -> None:
    for seed, _, equivalent in _rows("Admin valves"):
        setting = re.fullmatch(r"`([a-z_][a-z0-9_.]*)`", equivalent)
        if setting is not None:
            assert _setting_exists(setting.group(1)), f"{seed}: no sidecar setting {equivalent}"


def test_the_coverage_table_matches_the_rows() -> None:
    admin = _rows("Admin valves")
    user = _rows("User valves")
    in_scope = [row for row in admin if row[2] != "out of scope"]
    covered = [row for row in in_scope if row[2] != "—"]
    user_covered = [row for row in user if row[2] != "—"]
    shaping = [row for row in admin if row[1]]
    shaping_covered = [row for row in shaping if row[2] != "—"]
    text = DOC.read_text(encoding="utf-8")
    assert f"| admin valves | 193 | {len(in_scope)} | {len(covered)} |" in text
    assert f"| user valves | 11 | 11 | {len(user_covered)} |" in text
    total = len(in_scope) + len(user)
    assert f"| **all** | **204** | **{total}** | **{len(covered) + len(user_covered)}** |" in text
    shaping_total = len(shaping) + len(user)
    shaping_eq = len(shaping_covered) + len(user_covered)
    assert f"shape a request or its rendering¹ | | {shaping_total} | {shaping_eq} |" in text


def test_the_issues_coverage_target_holds() -> None:
    # Issue 10: at least 80% of the seed valves outside image/video/Fusion have an equivalent.
    admin = _rows("Admin valves")
    user = _rows("User valves")
    in_scope = [row for row in admin if row[2] != "out of scope"] + user
    covered = [row for row in in_scope if row[2] != "—"]
    assert len(in_scope) == 159
    assert len(covered) >= 128, f"{len(covered)}/159"
    assert len(covered) / len(in_scope) >= 0.80
    text = DOC.read_text(encoding="utf-8")
    assert f"met: {len(covered)} of {len(in_scope)} have an" in text.replace("\n", " ")
