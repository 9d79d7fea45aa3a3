"""Planning Open WebUI's model entries from the catalog: access, capabilities, the admin's edits.

``plan_model_entries`` is pure; the real Open WebUI applies the plan in the e2e suite
(``tests/e2e/test_model_access.py``).
"""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

FUNCTION = "openrouter"
PUBLIC = [{"principal_type": "user", "principal_id": "*", "permission": "read"}]
VISION = {"vision": True, "file_upload": True, "usage": True}
TEXT = {"vision": False, "file_upload": False, "usage": True}


def _row(sub_id: str, name: str, capabilities: dict[str, bool], description: str = "") -> dict:
    return {
        "id": sub_id,
        "name": name,
        "open_webui": {"capabilities": capabilities, "description": description},
    }


CATALOG = [_row("sim__vision", "Vision", VISION, "Sees."), _row("sim__text", "Text", TEXT)]


def _plan(
    shim: types.ModuleType, existing: dict[str, Any], catalog: list | None = None, **policy: Any
) -> list:
    return shim.plan_model_entries(
        FUNCTION, catalog if catalog is not None else CATALOG, existing, shim.SyncPolicy(**policy)
    )


def _applied(existing: dict[str, Any], changes: list) -> dict[str, Any]:
    """What Open WebUI would hold after the changes (as the REST/internal API return it)."""
    result = dict(existing)
    for change in changes:
        result[change.model_id] = dict(change.form)
    return result


def test_new_models_get_entries_with_the_chosen_access_and_capabilities(
    shim: types.ModuleType,
) -> None:
    changes = _plan(shim, {}, access="public")
    forms = {change.model_id: change.form for change in changes}
    assert [change.action for change in changes] == ["create", "create"]
    vision = forms["openrouter.sim__vision"]
    assert vision["access_grants"] == PUBLIC
    assert vision["meta"]["capabilities"] == VISION
    assert vision["name"] == "Vision"
    assert vision["is_active"] is True
    assert "description" not in vision["meta"]  # descriptions are opt-in


def test_group_access_grants_read_to_each_group(shim: types.ModuleType) -> None:
    changes = _plan(shim, {}, access="groups", group_ids=("g1", "g2"))
    assert changes[0].form["access_grants"] == [
        {"principal_type": "group", "principal_id": "g1", "permission": "read"},
        {"principal_type": "group", "principal_id": "g2", "permission": "read"},
    ]


def test_admin_only_access_means_no_grants(shim: types.ModuleType) -> None:
    assert _plan(shim, {}, access="admins")[0].form["access_grants"] == []


def test_a_second_sync_with_nothing_new_changes_nothing(shim: types.ModuleType) -> None:
    state = _applied({}, _plan(shim, {}, access="public"))
    assert _plan(shim, state, access="public") == []


def test_a_model_removed_from_the_catalog_is_hidden_and_comes_back(
    shim: types.ModuleType,
) -> None:
    state = _applied({}, _plan(shim, {}, access="public"))
    removed = _plan(shim, state, catalog=CATALOG[1:], access="public")
    assert [(c.model_id, c.form["is_active"]) for c in removed] == [
        ("openrouter.sim__vision", False)
    ]
    state = _applied(state, removed)
    back = _plan(shim, state, access="public")
    assert [(c.model_id, c.form["is_active"]) for c in back] == [("openrouter.sim__vision", True)]


def test_the_admins_edits_survive_a_sync(shim: types.ModuleType) -> None:
    state = _applied({}, _plan(shim, {}, access="public", update_descriptions=True))
    edited = dict(state["openrouter.sim__vision"])
    edited["name"] = "Our vision model"
    edited["meta"] = {**edited["meta"], "profile_image_url": "https://icons.example/v.png"}
    edited["access_grants"] = []  # the admin made it admin-only
    state["openrouter.sim__vision"] = edited
    catalog = [_row("sim__vision", "Vision v2", VISION, "Sees better."), CATALOG[1]]
    changes = _plan(shim, state, catalog=catalog, access="public", update_descriptions=True)
    form = next(c.form for c in changes if c.model_id == "openrouter.sim__vision")
    assert form["name"] == "Our vision model"
    assert form["access_grants"] == []
    assert form["meta"]["profile_image_url"] == "https://icons.example/v.png"
    assert form["meta"]["description"] == "Sees better."  # not edited: follows the catalog


def test_overwrite_replaces_the_admins_edits(shim: types.ModuleType) -> None:
    state = _applied({}, _plan(shim, {}, access="public"))
    state["openrouter.sim__text"] = {**state["openrouter.sim__text"], "name": "Renamed"}
    changes = _plan(shim, state, access="public", overwrite_edits=True)
    assert [c.form["name"] for c in changes] == ["Text"]


def test_a_model_the_admin_deactivated_stays_off(shim: types.ModuleType) -> None:
    state = _applied({}, _plan(shim, {}, access="public"))
    state["openrouter.sim__text"] = {**state["openrouter.sim__text"], "is_active": False}
    assert _plan(shim, state, access="public") == []


def _sync(
    shim: types.ModuleType,
    existing: dict[str, Any],
    state: Any,
    catalog: list | None = None,
    *,
    resync: bool = False,
) -> tuple[dict[str, Any], Any, list]:
    """One sync as the shim runs it: note deletions, plan, apply, remember what was created."""
    state = shim.note_deletions(FUNCTION, state, existing, resync=resync)
    changes = shim.plan_model_entries(
        FUNCTION,
        catalog if catalog is not None else CATALOG,
        existing,
        shim.SyncPolicy(access="public"),
        deleted=state.deleted,
    )
    return _applied(existing, changes), shim.state_after(state, changes), changes


def test_an_entry_the_admin_deleted_is_not_re_created_at_the_next_catalog_change(
    shim: types.ModuleType,
) -> None:
    entries, state, _ = _sync(shim, {}, shim.SyncState())
    assert state.created == {"openrouter.sim__vision", "openrouter.sim__text"}
    del entries["openrouter.sim__text"]  # the admin deletes it in Open WebUI
    catalog = [*CATALOG, _row("sim__new", "New", TEXT)]
    stored = shim.SyncState.from_text(state.to_text())  # as kept in MODEL_SYNC_STATE
    entries, state, changes = _sync(shim, entries, stored, catalog)
    assert [(c.action, c.model_id) for c in changes] == [("create", "openrouter.sim__new")]
    assert "openrouter.sim__text" not in entries
    assert state.deleted == {"openrouter.sim__text"}
    # And at every later change too.
    _, state, changes = _sync(shim, entries, state, CATALOG)
    assert all(c.model_id != "openrouter.sim__text" for c in changes)
    assert state.deleted == {"openrouter.sim__text"}


def test_resync_re_creates_the_deleted_entries_and_forgets_the_deletion(
    shim: types.ModuleType,
) -> None:
    entries, state, _ = _sync(shim, {}, shim.SyncState())
    del entries["openrouter.sim__text"]
    entries, state, _ = _sync(shim, entries, state)
    assert state.deleted == {"openrouter.sim__text"}
    entries, state, changes = _sync(shim, entries, state, resync=True)
    assert [(c.action, c.model_id) for c in changes] == [("create", "openrouter.sim__text")]
    assert state.deleted == frozenset()
    assert "openrouter.sim__text" in state.created


def test_entries_synced_before_the_state_existed_count_as_created(
    shim: types.ModuleType,
) -> None:
    entries = _applied({}, _plan(shim, {}, access="public"))
    state = shim.note_deletions(FUNCTION, shim.SyncState(), entries)
    assert state.created == {"openrouter.sim__vision", "openrouter.sim__text"}
    other = {"other.x": {"id": "other.x", "meta": {"pipe_service": {"synced": {}}}}}
    assert shim.note_deletions(FUNCTION, shim.SyncState(), other).created == frozenset()


@pytest.mark.parametrize("text", ["", "not json", "[1, 2]", '{"created": "x", "deleted": [3]}'])
def test_an_unreadable_sync_state_counts_as_empty(shim: types.ModuleType, text: str) -> None:
    assert shim.SyncState.from_text(text) == shim.SyncState()


def test_the_sync_state_round_trips_through_its_valve_text(shim: types.ModuleType) -> None:
    state = shim.SyncState(created=frozenset({"a.b", "a.c"}), deleted=frozenset({"a.d"}))
    assert shim.SyncState.from_text(state.to_text()) == state


def test_an_entry_the_admin_made_keeps_its_access_and_gets_missing_capabilities(
    shim: types.ModuleType,
) -> None:
    group = [{"principal_type": "group", "principal_id": "staff", "permission": "read"}]
    own = {
        "id": "openrouter.sim__text",
        "name": "Text",
        "meta": {"description": "ours"},
        "params": {"temperature": 0.2},
        "access_grants": group,
        "is_active": True,
    }
    changes = _plan(shim, {"openrouter.sim__text": own}, catalog=CATALOG[1:], access="public")
    form = changes[0].form
    assert form["access_grants"] == group
    assert form["meta"]["capabilities"] == TEXT
    assert form["meta"]["description"] == "ours"
    assert form["params"] == {"temperature": 0.2}
    assert changes[0].access_changed is False


def test_entries_of_other_functions_are_never_touched(shim: types.ModuleType) -> None:
    other = {"id": "other.model", "name": "x", "meta": {"pipe_service": {}}, "is_active": True}
    assert _plan(shim, {"other.model": other}, catalog=[], access="public") == []


def test_the_function_id_comes_from_open_webuis_module_name(shim: types.ModuleType) -> None:
    assert shim.owui_function_id("function_my_pipe_" + "ab" * 16) == "my_pipe"
    assert shim.owui_function_id("openrouter_pipe") is None


def test_outside_open_webui_the_adapter_refuses_clearly(shim: types.ModuleType) -> None:
    with pytest.raises(shim.OwuiVersionError, match="not running inside Open WebUI"):
        shim.OwuiModelEntries()


def test_an_unknown_open_webui_version_is_refused_with_the_rest_alternative(
    shim: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = types.ModuleType("open_webui")
    env = types.ModuleType("open_webui.env")
    env.VERSION = "0.13.0"  # type: ignore[attr-defined]
    package.env = env  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "open_webui", package)
    monkeypatch.setitem(sys.modules, "open_webui.env", env)
    with pytest.raises(shim.OwuiVersionError, match=r"0\.13\.0.*pipe-service shim sync-models"):
        shim.OwuiModelEntries()


def test_icons_come_from_the_sidecar_when_images_are_synced(shim: types.ModuleType) -> None:
    row = _row("sim__text", "Text", TEXT)
    row["open_webui"]["profile_image_url"] = "https://icons.example/t.png"
    [synced] = _plan(shim, {}, catalog=[row], access="public")
    [unsynced] = _plan(shim, {}, catalog=[row], access="public", update_images=False)
    assert synced.form["meta"]["profile_image_url"] == "https://icons.example/t.png"
    assert "profile_image_url" not in unsynced.form["meta"]
