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


def test_a_shim_that_fails_to_load_here_is_refused_before_open_webui_is_touched(
    stack: Stack, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import no_such_module_e2e\n\nclass Pipe:\n    pass\n")
    result = run_installer(stack, broken, "--function-id", "broken_e2e")
    assert result.returncode == 1
    assert f"{broken} fails to load: ModuleNotFoundError" in result.stderr
    with stack.admin.client() as client:
        assert client.get("/api/v1/functions/id/broken_e2e").status_code != 200


def test_a_shim_that_fails_to_load_in_open_webui_reports_open_webuis_message(
    stack: Stack, tmp_path: Path
) -> None:
    # trio is in the sidecar's environment, not in Open WebUI's.
    broken = tmp_path / "needs_trio.py"
    broken.write_text("import trio\n\nclass Pipe:\n    pass\n")
    result = run_installer(stack, broken, "--function-id", "broken_e2e")
    assert result.returncode == 1
    assert "POST /api/v1/functions/create: Open WebUI answered 400" in result.stderr
    assert f"Open WebUI could not load {broken}" in result.stderr


def test_a_valve_value_outside_its_choices_is_refused_before_the_code_is_replaced(
    stack: Stack, shim: InstalledShim, shim_file: Path, tmp_path: Path
) -> None:
    changed = tmp_path / "changed.py"
    changed.write_text(shim_file.read_text() + "\n# a new version\n")
    result = run_installer(
        stack, changed, "--function-id", shim.function_id, "--valve", "TOOL_EXECUTION_MODE=native"
    )
    assert result.returncode == 1
    assert "valve TOOL_EXECUTION_MODE: Input should be 'pipeline' or 'passthrough'" in result.stderr
    with stack.admin.client() as client:
        function = client.get(f"/api/v1/functions/id/{shim.function_id}").json()
    assert function["content"] == shim_file.read_text()


# Open WebUI refuses the valves (the validator only fails inside Open WebUI), after the code
# was already stored: the installer must put the previous code and valves back.
REFUSED_INSIDE_OPEN_WEBUI = """

class _RefusingInsideOpenWebUI(Pipe.Valves):
    @field_validator("IDLE_TIMEOUT_S")
    @classmethod
    def _refuse_inside_open_webui(cls, value):
        import importlib.util

        if importlib.util.find_spec("open_webui") is not None:
            raise ValueError("refused by this build inside Open WebUI")
        return value


Pipe.Valves = _RefusingInsideOpenWebUI
"""


def test_code_and_valves_roll_back_together_when_open_webui_refuses_the_valves(
    stack: Stack, shim: InstalledShim, shim_file: Path, tmp_path: Path
) -> None:
    with stack.admin.client() as client:
        valves_before = client.get(f"/api/v1/functions/id/{shim.function_id}/valves").json()
    refusing = tmp_path / "refusing.py"
    refusing.write_text(shim_file.read_text() + REFUSED_INSIDE_OPEN_WEBUI)
    result = run_installer(stack, refusing, "--valve", "IDLE_TIMEOUT_S=99")
    assert result.returncode == 1
    assert "rolled back: Open WebUI keeps its previous code and valves" in result.stderr
    with stack.admin.client() as client:
        function = client.get(f"/api/v1/functions/id/{shim.function_id}").json()
        valves_after = client.get(f"/api/v1/functions/id/{shim.function_id}/valves").json()
    assert function["content"] == shim_file.read_text()
    assert valves_after == valves_before


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
