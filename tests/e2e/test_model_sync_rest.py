"""``pipe-service shim sync-models``: the model entries written over Open WebUI's REST API.

The Function here has ``SYNC_MODEL_ENTRIES=false`` (the shim writes nothing itself), so what a
plain user sees comes from the command alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import INSTALL_S, InstalledShim, Stack, install, set_hidden_models
from tests.e2e.owui_rest import Admin, add_user, models

pytestmark = pytest.mark.e2e

FUNCTION_ID = "openrouter_rest"


@pytest.fixture(scope="module")
def rest_shim(stack: Stack, shim_file: Path) -> InstalledShim:
    return install(
        stack,
        shim_file,
        FUNCTION_ID,
        "SYNC_MODEL_ENTRIES=false",
        "MODEL_ACCESS=public",
        "MODEL_CACHE_TTL_S=0",
    )


@pytest.fixture(scope="module")
def rest_user(stack: Stack) -> Admin:
    return add_user(stack.admin, "REST User", "rest-user@e2e.local")


def sync(stack: Stack, shim_file: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pipe_service.installer", "sync-models"]
    command += ["--owui-url", stack.owui.url, "--function-id", FUNCTION_ID]
    command += ["--shim-file", str(shim_file), *extra]
    env = os.environ | {"OWUI_API_KEY": stack.admin.api_key}
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=INSTALL_S, check=False
    )


def entry(stack: Stack, model_id: str) -> dict[str, Any]:
    with stack.admin.client() as client:
        entries = client.get("/api/v1/models/all").json()
    return next(item for item in entries if item["id"] == model_id)


@pytest.fixture
def synced(stack: Stack, rest_shim: InstalledShim, shim_file: Path) -> str:
    result = sync(stack, shim_file)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_sync_models_makes_the_models_visible_to_a_plain_user_with_capabilities(
    stack: Stack, rest_shim: InstalledShim, rest_user: Admin, shim_file: Path
) -> None:
    assert not [model for model in models(rest_user) if model.startswith(f"{FUNCTION_ID}.")]
    result = sync(stack, shim_file)
    assert result.returncode == 0, result.stderr
    assert f"Function {FUNCTION_ID}: " in result.stdout
    seen = models(rest_user)
    vision = seen[rest_shim.model("sim/vision")]["info"]["meta"]["capabilities"]
    text = seen[rest_shim.model("sim/text")]["info"]["meta"]["capabilities"]
    assert (vision["file_upload"], text["file_upload"]) == (True, False)


def test_sync_models_keeps_the_admins_rename_and_hides_a_retired_model(
    stack: Stack, rest_shim: InstalledShim, shim_file: Path, synced: str
) -> None:
    text_id = rest_shim.model("sim/text")
    renamed = entry(stack, text_id) | {"name": "Our text model"}
    with stack.admin.client() as client:
        reply = client.post("/api/v1/models/model/update", json=renamed)
    assert reply.status_code == 200, reply.text
    set_hidden_models(stack, ["sim/vision"])
    try:
        result = sync(stack, shim_file)
        assert result.returncode == 0, result.stderr
        assert f"hidden  {rest_shim.model('sim/vision')}" in result.stdout
        assert entry(stack, rest_shim.model("sim/vision"))["is_active"] is False
        assert entry(stack, text_id)["name"] == "Our text model"
    finally:
        set_hidden_models(stack, [])
    back = sync(stack, shim_file)
    assert back.returncode == 0, back.stderr
    assert entry(stack, rest_shim.model("sim/vision"))["is_active"] is True


def _entry_ids(stack: Stack) -> set[str]:
    with stack.admin.client() as client:
        return {str(item["id"]) for item in client.get("/api/v1/models/all").json()}


def test_an_entry_the_admin_deleted_stays_deleted_until_resync(
    stack: Stack, rest_shim: InstalledShim, shim_file: Path, synced: str
) -> None:
    model_id = rest_shim.model("sim/web-citations")
    with stack.admin.client() as client:
        reply = client.post("/api/v1/models/model/delete", json={"id": model_id})
    assert reply.status_code == 200, reply.text
    again = sync(stack, shim_file)
    assert again.returncode == 0, again.stderr
    assert f"deleted by an admin, not re-created (--resync)  {model_id}" in again.stdout
    assert model_id not in _entry_ids(stack)
    resynced = sync(stack, shim_file, "--resync")
    assert resynced.returncode == 0, resynced.stderr
    assert f"created  {model_id}" in resynced.stdout
    assert model_id in _entry_ids(stack)
    with stack.admin.client() as client:
        valves = client.get(f"/api/v1/functions/id/{FUNCTION_ID}/valves").json()
    assert valves["MODEL_RESYNC"] is False
    assert model_id not in valves["MODEL_SYNC_STATE"].split('"deleted"')[1]


def test_sync_models_for_a_missing_function_says_to_install_first(
    stack: Stack, shim_file: Path
) -> None:
    command = [sys.executable, "-m", "pipe_service.installer", "sync-models"]
    command += ["--owui-url", stack.owui.url, "--function-id", "never_installed"]
    env = os.environ | {"OWUI_API_KEY": stack.admin.api_key}
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=INSTALL_S, check=False
    )
    assert result.returncode == 1
    assert "no Function never_installed in Open WebUI: install it first" in result.stderr
