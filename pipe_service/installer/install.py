"""The install flow: create or update the Function, set its valves, enable it, list its models.

Order matters. Valves are written before the Function is enabled so its first model listing
already uses them, and ``GET /api/models`` runs last because Open WebUI only rebuilds its model
cache there: until then a new pipe answers ``400 Model not found``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipe_service.installer.errors import InstallError, OpenWebUIError
from pipe_service.installer.owui_api import OpenWebUI
from pipe_service.installer.valves import type_valves

DEFAULT_FUNCTION_ID = "openrouter"
DEFAULT_SHIM_FILE = Path(__file__).resolve().parent.parent / "shim" / "openrouter_pipe.py"
DIRECT_UPLOADS_FILE = (
    Path(__file__).resolve().parent.parent / "shim" / "openrouter_direct_uploads.py"
)
DIRECT_UPLOADS_SUFFIX = "_direct_uploads"
_FUNCTION_ID = re.compile(r"^[a-z_][a-z0-9_]*$")
_FRONTMATTER_LINE = re.compile(r"^\s*([a-z_]+):\s*(.*)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class InstallOptions:
    function_id: str = DEFAULT_FUNCTION_ID
    shim_file: Path = DEFAULT_SHIM_FILE
    valves: dict[str, str] = field(default_factory=dict)
    """Raw ``K=V`` values, typed against the Function's valves spec before they are stored."""
    direct_uploads: bool = True
    """Also install the companion Direct Uploads filter (``<function_id>_direct_uploads``)."""


@dataclass(frozen=True)
class InstallResult:
    function_id: str
    created: bool
    """True when the Function did not exist before; False when its code was updated."""
    valves_set: dict[str, object]
    """The typed values written (secrets included: the caller must not print them)."""
    toggled_on: bool
    models: list[dict[str, Any]]
    """The models Open WebUI now lists for this Function."""
    filter_id: str | None = None
    """The Direct Uploads filter installed beside the pipe (None when not requested)."""


def install_shim(owui: OpenWebUI, options: InstallOptions) -> InstallResult:
    """Install ``options.shim_file`` as Function ``options.function_id`` and enable it."""
    if not _FUNCTION_ID.match(options.function_id):
        raise InstallError(
            f"--function-id {options.function_id!r}: use a lowercase Python identifier "
            "(letters, digits, underscores; not starting with a digit)"
        )
    content = _read_shim(options.shim_file)
    owui.require_admin()
    form = _function_form(options.function_id, content)
    existing = owui.get_function(options.function_id)
    try:
        if existing is None:
            owui.create_function(form)
        else:
            owui.update_function(options.function_id, form)
    except OpenWebUIError as exc:
        if exc.status != 400:
            raise
        # 0.12 hides the cause ("Error creating function"); its log has the traceback.
        raise InstallError(
            f"{exc}; Open WebUI could not load {options.shim_file} (the traceback is in Open "
            "WebUI's log: an import missing from its environment, or an error at import time)"
        ) from exc
    valves_set: dict[str, object] = {}
    if options.valves:
        valves_set = type_valves(options.valves, owui.valves_spec(options.function_id))
        # The update replaces the stored set: merge so valves not named here keep their values.
        owui.update_valves(options.function_id, {**owui.valves(options.function_id), **valves_set})
    function = owui.get_function(options.function_id)
    if function is None:
        raise InstallError(f"Function {options.function_id} vanished right after being saved")
    toggled_on = not function.get("is_active", False)
    if toggled_on:
        owui.toggle_function(options.function_id)
    filter_id = None
    if options.direct_uploads:
        filter_id = install_direct_uploads_filter(owui, options.function_id)
    prefix = f"{options.function_id}."
    models = [
        model
        for model in owui.models()
        if str(model.get("id", "")).startswith(prefix) or model.get("id") == options.function_id
    ]
    return InstallResult(
        options.function_id, existing is None, valves_set, toggled_on, models, filter_id
    )


def install_direct_uploads_filter(
    owui: OpenWebUI, pipe_function_id: str, filter_file: Path = DIRECT_UPLOADS_FILE
) -> str:
    """Install the Direct Uploads filter for ``pipe_function_id``: enabled and global.

    Global is safe: the filter acts only on that pipe's models (its ``PIPE_FUNCTION_ID``).
    """
    filter_id = f"{pipe_function_id}{DIRECT_UPLOADS_SUFFIX}"
    content = _read_function_file(filter_file, "class Filter", "filter")
    manifest = frontmatter(content)
    form = {
        "id": filter_id,
        "name": manifest.get("title") or "OpenRouter Direct Uploads (pipe-service)",
        "content": content,
        "meta": {"description": manifest.get("description", "pipe-service direct uploads")},
    }
    if owui.get_function(filter_id) is None:
        owui.create_function(form)
    else:
        owui.update_function(filter_id, form)
    owui.update_valves(filter_id, {**owui.valves(filter_id), "PIPE_FUNCTION_ID": pipe_function_id})
    function = owui.get_function(filter_id)
    if function is None:
        raise InstallError(f"Function {filter_id} vanished right after being saved")
    if not function.get("is_active", False):
        owui.toggle_function(filter_id)
    if not function.get("is_global", False):
        owui.toggle_function_global(filter_id)
    return filter_id


def _read_shim(path: Path) -> str:
    return _read_function_file(path, "class Pipe", "pipe")


def _read_function_file(path: Path, marker: str, kind: str) -> str:
    try:
        content = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InstallError(f"cannot read the shim file {path}: {exc.strerror or exc}") from exc
    try:
        compile(content, str(path), "exec")  # syntax errors with a line number, before uploading
    except SyntaxError as exc:
        raise InstallError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from exc
    if marker not in content:
        raise InstallError(f"{path} defines no `{marker}`: it is not an Open WebUI {kind}")
    return content


def _function_form(function_id: str, content: str) -> dict[str, Any]:
    manifest = frontmatter(content)
    return {
        "id": function_id,
        "name": manifest.get("title") or "OpenRouter (pipe-service)",
        "content": content,
        "meta": {"description": manifest.get("description", "OpenRouter via pipe-service")},
    }


def frontmatter(content: str) -> dict[str, str]:
    """The file's frontmatter as Open WebUI reads it: ``key: value`` lines atop."""
    lines = content.splitlines()
    if not lines or lines[0].strip() != '"""':
        return {}
    manifest: dict[str, str] = {}
    for line in lines[1:]:
        if line.strip() == '"""':
            break
        match = _FRONTMATTER_LINE.match(line)
        if match:
            manifest[match.group(1).lower()] = match.group(2).strip()
    return manifest
