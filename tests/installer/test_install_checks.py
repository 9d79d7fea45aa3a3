"""What the installer refuses before it talks to Open WebUI, and how it reads frontmatter.

The client points at a closed port: reaching the network would turn these errors into
"cannot reach Open WebUI", so each test also proves the check runs first.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipe_service.installer import InstallError, InstallOptions, OpenWebUI, install_shim
from pipe_service.installer.install import DEFAULT_SHIM_FILE, frontmatter

NOWHERE = "http://127.0.0.1:9"


def install_file(tmp_path: Path, content: str, function_id: str = "openrouter") -> None:
    shim = tmp_path / "pipe.py"
    shim.write_text(content)
    with OpenWebUI(NOWHERE, "sk-test") as owui:
        install_shim(owui, InstallOptions(function_id=function_id, shim_file=shim))


def test_a_syntax_error_is_reported_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(InstallError, match=r"pipe.py:3: syntax error"):
        install_file(tmp_path, "class Pipe:\n    pass\ndef broken(:\n")


def test_a_file_without_a_pipe_class_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InstallError, match=r"defines no `class Pipe`"):
        install_file(tmp_path, "class Filter:\n    pass\n")


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    with (
        OpenWebUI(NOWHERE, "sk-test") as owui,
        pytest.raises(InstallError, match=r"cannot read the shim file"),
    ):
        install_shim(owui, InstallOptions(shim_file=tmp_path / "absent.py"))


def test_a_function_id_with_a_dash_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InstallError, match=r"use a lowercase Python identifier"):
        install_file(tmp_path, "class Pipe:\n    pass\n", function_id="open-router")


def test_frontmatter_is_read_from_a_leading_docstring() -> None:
    content = '"""\ntitle: OpenRouter\nDescription: via the sidecar\n"""\nclass Pipe: ...\n'
    assert frontmatter(content) == {"title": "OpenRouter", "description": "via the sidecar"}


def test_no_frontmatter_without_a_bare_opening_quote_line() -> None:
    assert frontmatter('"""title: x"""\nclass Pipe: ...\n') == {}


def test_the_default_shim_file_is_the_packaged_one() -> None:
    assert DEFAULT_SHIM_FILE.parts[-3:] == ("pipe_service", "shim", "openrouter_pipe.py")


def install_shim_with(*valves: str) -> None:
    raw = dict(valve.split("=", 1) for valve in valves)
    with OpenWebUI(NOWHERE, "sk-test") as owui:
        install_shim(owui, InstallOptions(valves=raw))


def test_a_valve_outside_its_choices_is_refused_before_open_webui_is_touched() -> None:
    with pytest.raises(
        InstallError,
        match=r"valve TOOL_EXECUTION_MODE: Input should be 'pipeline' or 'passthrough'",
    ):
        install_shim_with("TOOL_EXECUTION_MODE=native")


def test_a_valve_out_of_range_is_refused_naming_it_before_open_webui_is_touched() -> None:
    with pytest.raises(InstallError, match=r"valve MAX_FUNCTION_CALL_LOOPS: Input should be"):
        install_shim_with("MAX_FUNCTION_CALL_LOOPS=0")


def test_a_shim_that_fails_to_load_is_refused_with_its_error(tmp_path: Path) -> None:
    with pytest.raises(InstallError, match=r"fails to load: ModuleNotFoundError"):
        install_file(tmp_path, "import no_such_module_here\n\nclass Pipe:\n    pass\n")
