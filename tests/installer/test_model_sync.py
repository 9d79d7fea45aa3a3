"""``sync-models`` refuses before writing anything when the policy names unknown groups."""

from __future__ import annotations

import pytest

from pipe_service.installer.errors import InstallError
from pipe_service.installer.install import DEFAULT_SHIM_FILE, loaded_shim, read_shim
from pipe_service.installer.model_sync import sync_policy


def test_unknown_access_groups_are_named() -> None:
    with loaded_shim(read_shim(DEFAULT_SHIM_FILE), DEFAULT_SHIM_FILE) as shim:
        valves = shim.Pipe.Valves(MODEL_ACCESS="groups", MODEL_ACCESS_GROUPS="Staff, Interns")
        with pytest.raises(InstallError, match="MODEL_ACCESS_GROUPS: no Open WebUI group Interns"):
            sync_policy(shim, valves, [{"id": "g1", "name": "staff"}])


def test_groups_are_matched_by_name_or_id() -> None:
    with loaded_shim(read_shim(DEFAULT_SHIM_FILE), DEFAULT_SHIM_FILE) as shim:
        valves = shim.Pipe.Valves(MODEL_ACCESS="groups", MODEL_ACCESS_GROUPS="Staff, g2")
        policy = sync_policy(
            shim, valves, [{"id": "g1", "name": "staff"}, {"id": "g2", "name": "x"}]
        )
    assert policy.group_ids == ("g1", "g2")
