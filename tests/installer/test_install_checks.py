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
