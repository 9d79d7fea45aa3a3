"""``pipe-service shim install`` against a real Open WebUI: create, update, valves, errors.

The installer runs as a command (``python -m pipe_service.installer install``) exactly as an
admin runs it; each error case checks the one line it prints and its exit status.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import InstalledShim, Stack, install, run_installer
from tests.e2e.owui_rest import model_ids
from tests.e2e.processes import free_port

pytestmark = pytest.mark.e2e


def test_install_creates_enables_and_lists_the_sidecar_models(
    stack: Stack, shim: InstalledShim
) -> None:
    assert "Function openrouter: created, enabled" in shim.output
    assert shim.model("sim/text") in shim.output
    assert shim.model("sim/text") in model_ids(stack.admin)


def test_install_sets_the_valves_typed_by_the_spec(stack: Stack, shim: InstalledShim) -> None:
    with stack.admin.client() as client:
        valves = client.get(f"/api/v1/functions/id/{shim.function_id}/valves").json()
    assert valves["SIDECAR_ADDRESSES"] == stack.sidecar.address


def test_reinstalling_updates_in_place_and_keeps_the_valves(
    stack: Stack, shim: InstalledShim, shim_file: Path
) -> None:
    result = run_installer(stack, shim_file, "--valve", "CONNECT_TIMEOUT_S=7")
    assert result.returncode == 0, result.stderr
    assert "Function openrouter: updated, already enabled" in result.stdout
    with stack.admin.client() as client:
        valves = client.get(f"/api/v1/functions/id/{shim.function_id}/valves").json()
    assert valves["SIDECAR_ADDRESSES"] == stack.sidecar.address
    assert valves["CONNECT_TIMEOUT_S"] == 7.0


def test_an_unknown_valve_is_refused_with_the_valid_names(
    stack: Stack, shim: InstalledShim, shim_file: Path
) -> None:
    result = run_installer(stack, shim_file, "--valve", "SIDECAR_ADRESSES=unix:/x")
    assert result.returncode == 1
    assert "unknown valve(s) SIDECAR_ADRESSES; valid valves: " in result.stderr
    assert "SIDECAR_ADDRESSES" in result.stderr.split("valid valves: ")[1]


def test_a_mistyped_valve_value_is_refused(
    stack: Stack, shim: InstalledShim, shim_file: Path
) -> None:
    result = run_installer(stack, shim_file, "--valve", "CONNECT_TIMEOUT_S=soon")
    assert result.returncode == 1
    assert "valve CONNECT_TIMEOUT_S: 'soon' is not a valid number" in result.stderr


def test_a_bad_api_key_is_refused(stack: Stack, shim_file: Path) -> None:
    result = run_installer(stack, shim_file, "--api-key", "sk-not-a-key")
    assert result.returncode == 1
    assert "Open WebUI refused the API key (401" in result.stderr


def test_a_non_admin_is_refused(stack: Stack, shim_file: Path) -> None:
    user = {"name": "U", "email": "user@e2e.local", "password": "user-password-1", "role": "user"}
    with stack.admin.client(jwt=True) as client:
        added = client.post("/api/v1/auths/add", json=user)
    assert added.status_code == 200, added.text
    result = run_installer(stack, shim_file, "--api-key", added.json()["token"])
    assert result.returncode == 1
    assert "the API key's user is not an admin" in result.stderr


def test_an_unreachable_open_webui_is_reported(stack: Stack, shim_file: Path) -> None:
    result = run_installer(stack, shim_file, "--owui-url", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert "cannot reach Open WebUI at http://127.0.0.1:" in result.stderr


def test_a_shim_that_fails_to_load_reports_open_webuis_message(
    stack: Stack, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import no_such_module_e2e\n\nclass Pipe:\n    pass\n")
    result = run_installer(stack, broken, "--function-id", "broken_e2e")
    assert result.returncode == 1
    assert "POST /api/v1/functions/create: Open WebUI answered 400" in result.stderr
    assert f"Open WebUI could not load {broken}" in result.stderr


def test_a_function_id_that_is_not_an_identifier_is_refused(stack: Stack, shim_file: Path) -> None:
    result = run_installer(stack, shim_file, "--function-id", "open-router")
    assert result.returncode == 1
    assert "--function-id 'open-router': use a lowercase Python identifier" in result.stderr


def test_an_unreachable_sidecar_shows_as_the_unreachable_entry(
    stack: Stack, shim_file: Path, tmp_path: Path
) -> None:
    down = install(stack, shim_file, "down_e2e", f"SIDECAR_ADDRESSES=unix:{tmp_path}/none.sock")
    try:
        assert "down_e2e.sidecar-unreachable" in down.output
    finally:
        with stack.admin.client() as client:
            client.delete("/api/v1/functions/id/down_e2e/delete")
