"""Session fixtures of the end-to-end suite: a real sidecar, a real Open WebUI 0.12.4, the shim.

Started once per run, in parallel where possible (Open WebUI needs ~16 s to answer ``/health``):

- ``stack``: ``pipe-service serve`` (built-in simulator upstream serving the sim/* models plus
  two provider-named ones, var dir and Unix socket in tmp; tests read the simulator's request
  log and change its catalog on its private socket) and
  ``open-webui serve`` from the venv of ``scripts/owui_venv.sh`` (fresh DATA_DIR, offline env),
  plus the admin account (first sign-up) with an API key;
- ``shim``: the REAL shim file installed with the installer command (``python -m
  pipe_service.installer install``, the same code as ``pipe-service shim install``), as Function
  ``openrouter`` with ``SIDECAR_ADDRESSES`` = the sidecar's Unix socket;
- ``passthrough_shim``: the same file as Function ``openrouter_pt`` with
  ``TOOL_EXECUTION_MODE=passthrough``.

``OWUI_VENV`` selects the Open WebUI venv (default ``~/.cache/pipe-service/owui-0.12.4``);
``PIPE_SERVICE_E2E_SHIM_FILE`` replaces the shim file (development only).
Waits are real time (real processes) and every one of them is bounded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipe_service.bench.owui_process import OwuiSetupError, require_owui_venv, sign_up_admin
from pipe_service.bench.owui_process import owui_venv as owui_venv_path
from pipe_service.catalog.model_ids import slug_to_owui_id
from pipe_service.installer.install import DEFAULT_SHIM_FILE
from pipe_service.simulator.catalog import load_sim_catalog
from tests.e2e.owui_rest import Admin
from tests.e2e.processes import OpenWebUIProcess, SidecarProcess, SimulatorControl, wait_until

FUNCTION_ID = "openrouter"
PASSTHROUGH_FUNCTION_ID = "openrouter_pt"
INSTALL_S = 120.0


@dataclass
class Stack:
    simulator: SimulatorControl
    sidecar: SidecarProcess
    owui: OpenWebUIProcess
    admin: Admin


@dataclass(frozen=True)
class InstalledShim:
    function_id: str
    output: str
    """What the installer printed."""

    def model(self, slug: str) -> str:
        """The Open WebUI model id of an OpenRouter slug under this Function."""
        return f"{self.function_id}.{slug_to_owui_id(slug)}"


@pytest.fixture(scope="session")
def owui_venv() -> Path:
    try:
        return require_owui_venv(owui_venv_path())
    except OwuiSetupError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def shim_file() -> Path:
    path = Path(os.environ.get("PIPE_SERVICE_E2E_SHIM_FILE") or DEFAULT_SHIM_FILE)
    if not path.exists():
        pytest.fail(f"no shim file at {path}")
    return path


@pytest.fixture(scope="session")
def stack(owui_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    owui = OpenWebUIProcess(owui_venv, tmp_path_factory.mktemp("owui"))
    catalog = write_e2e_catalog(tmp_path_factory.mktemp("catalog"))
    sidecar = SidecarProcess(tmp_path_factory.mktemp("sidecar"), catalog)
    owui.start()
    try:
        sidecar.start()
        try:
            owui.wait_healthy()
            yield Stack(SimulatorControl(sidecar), sidecar, owui, sign_up_admin(owui.url))
        finally:
            sidecar.stop()
    finally:
        owui.stop()


# Two provider-named models beside the sim/* ones, for the valves that act on Claude and Gemini
# only (prompt caching, interleaved thinking, the Gemini 2.5 thinking budget). The simulator
# answers them with its plain text scenario.
E2E_EXTRA_MODELS = [
    {
        "id": "anthropic/claude-e2e",
        "name": "Anthropic: Claude (e2e)",
        "architecture": {"input_modalities": ["text", "image"], "output_modalities": ["text"]},
        "supported_parameters": ["reasoning", "include_reasoning", "tools", "tool_choice"],
        "pricing": {"prompt": "0.000003", "completion": "0.000015"},
    },
    {
        "id": "google/gemini-2.5-e2e",
        "name": "Google: Gemini 2.5 (e2e)",
        "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
        "supported_parameters": ["reasoning", "include_reasoning", "tools", "tool_choice"],
        "pricing": {"prompt": "0.000001", "completion": "0.000004"},
    },
]


def write_e2e_catalog(directory: Path) -> Path:
    """The simulator's own catalog plus :data:`E2E_EXTRA_MODELS`, as a file for ``--catalog``."""
    path = directory / "catalog.json"
    rows = [*load_sim_catalog().rows, *E2E_EXTRA_MODELS]
    path.write_text(json.dumps({"data": rows}), encoding="utf-8")
    return path


def run_installer(stack: Stack, shim_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m pipe_service.installer install`` against the stack's Open WebUI."""
    command = [sys.executable, "-m", "pipe_service.installer", "install"]
    command += ["--owui-url", stack.owui.url, "--shim-file", str(shim_file), *args]
    env = os.environ | {"OWUI_API_KEY": stack.admin.api_key}
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=INSTALL_S, check=False
    )


def install(stack: Stack, shim_file: Path, function_id: str, *valves: str) -> InstalledShim:
    result = run_installer(
        stack,
        shim_file,
        "--function-id",
        function_id,
        "--valve",
        f"SIDECAR_ADDRESSES={stack.sidecar.address}",
        *(arg for valve in valves for arg in ("--valve", valve)),
    )
    assert result.returncode == 0, result.stderr
    return InstalledShim(function_id, result.stdout)


@pytest.fixture(scope="session")
def shim(stack: Stack, shim_file: Path) -> InstalledShim:
    return install(stack, shim_file, FUNCTION_ID)


@pytest.fixture(scope="session")
def passthrough_shim(stack: Stack, shim_file: Path) -> InstalledShim:
    return install(stack, shim_file, PASSTHROUGH_FUNCTION_ID, "TOOL_EXECUTION_MODE=passthrough")


@pytest.fixture
def admin(stack: Stack) -> Admin:
    return stack.admin


CATALOG_CHANGE_S = 30.0


def set_hidden_models(stack: Stack, hidden: list[str]) -> None:
    """Leave ``hidden`` out of the simulator's catalog and wait until the sidecar agrees."""
    stack.simulator.hide_models(*hidden)
    with stack.sidecar.client() as client:
        assert client.post("/admin/catalog/refresh").status_code == 202

    def sidecar_agrees() -> bool:
        with stack.sidecar.client() as client:
            rows = client.get("/v1/models").json()["data"]
        # The admin's variants (processes.py configures one) are listed beside the catalog.
        listed = {row["id"] for row in rows if "variant_of" not in row}
        return listed == stack.simulator.model_ids()

    wait_until(sidecar_agrees, limit_s=CATALOG_CHANGE_S, what="sidecar catalog refresh", step_s=0.2)
