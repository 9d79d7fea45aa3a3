"""The install flow: create or update the Function, set its valves, enable it, list its models.

Order matters. Valves are typed and validated against the new file before anything is written;
code and valves are then written as one step (rolled back when the valves are refused). Valves
are written before the Function is enabled so its first model listing already uses them, and
``GET /api/models`` runs last because Open WebUI only rebuilds its model
cache there: until then a new pipe answers ``400 Model not found``.
"""

from __future__ import annotations

import re
import sys
import types
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

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
    """Install ``options.shim_file`` as Function ``options.function_id`` and enable it.

    The valves are typed and validated against the new file's ``Valves`` before Open WebUI is
    touched; code and valves are then written as one step: if storing the valves fails, the
    previous code and valves are put back (a new Function is deleted again).
    """
    if not _FUNCTION_ID.match(options.function_id):
        raise InstallError(
            f"--function-id {options.function_id!r}: use a lowercase Python identifier "
            "(letters, digits, underscores; not starting with a digit)"
        )
    content = read_shim(options.shim_file)
    valves_model = load_valves_model(content, options.shim_file)
    valves_set: dict[str, object] = {}
    if options.valves:
        if valves_model is None:
            raise InstallError(f"{options.shim_file}: `Pipe` has no Valves to set")
        valves_set = type_valves(options.valves, valves_model.model_json_schema())
        check_valves(valves_model, valves_set)
    owui.require_admin()
    existing = owui.get_function(options.function_id)
    stored = owui.valves(options.function_id) if existing is not None else {}
    # The update replaces the stored set: merge so valves not named here keep their values.
    merged = {**stored, **valves_set}
    if valves_model is not None and valves_set:
        check_valves(valves_model, merged)
    form = _function_form(options.function_id, content)
    _write_code(owui, options, form, existing)
    if valves_set:
        try:
            owui.update_valves(options.function_id, merged)
        except (OpenWebUIError, InstallError) as exc:
            _roll_back(owui, options.function_id, existing, stored)
            raise InstallError(
                f"{exc}; rolled back: Open WebUI keeps its previous code and valves"
            ) from exc
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


def _write_code(
    owui: OpenWebUI, options: InstallOptions, form: dict[str, Any], existing: dict[str, Any] | None
) -> None:
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


def _roll_back(
    owui: OpenWebUI, function_id: str, previous: dict[str, Any] | None, valves: dict[str, Any]
) -> None:
    """Put the Function back as it was before this install (best effort, errors reported)."""
    try:
        if previous is None:
            owui.delete_function(function_id)
            return
        form: dict[str, Any] = {
            key: previous[key] for key in ("id", "name", "content", "meta") if key in previous
        }
        owui.update_function(function_id, form)
        owui.update_valves(function_id, valves)
    except (OpenWebUIError, InstallError) as exc:
        raise InstallError(
            f"rolling back Function {function_id} failed too ({exc}): check it in Open WebUI"
        ) from exc


def load_valves_model(content: str, path: Path) -> type[BaseModel] | None:
    """The file's ``Pipe.Valves`` model (None without one), loaded as Open WebUI loads a Function.

    Runs the file (it is the code about to be installed); a file whose import fails here would
    fail inside Open WebUI too.
    """
    with loaded_shim(content, path) as module:
        pipe = module.__dict__.get("Pipe")
        valves = getattr(pipe, "Valves", None)
    if valves is None:
        return None
    if not (isinstance(valves, type) and issubclass(valves, BaseModel)):
        raise InstallError(f"{path}: `Pipe.Valves` is not a pydantic model")
    return valves


@contextmanager
def loaded_shim(content: str, path: Path) -> Iterator[types.ModuleType]:
    """The shim file executed as a module (registered in ``sys.modules`` while in use)."""
    name = f"pipe_service_install_{uuid.uuid4().hex}"
    module = types.ModuleType(name)
    module.__dict__["__file__"] = str(path)
    sys.modules[name] = module  # dataclasses and pydantic look their module up there
    try:
        try:
            exec(compile(content, str(path), "exec"), module.__dict__)
        except Exception as exc:  # the file's own import-time error, reported with its type
            raise InstallError(f"{path} fails to load: {type(exc).__name__}: {exc}") from exc
        yield module
    finally:
        sys.modules.pop(name, None)


def check_valves(model: type[BaseModel], values: dict[str, Any]) -> None:
    """Validate the whole valve set as Open WebUI will; errors name each valve at fault."""
    try:
        model(**{name: value for name, value in values.items() if value is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"valve {'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors(include_input=False)
        )
        raise InstallError(f"{problems} (nothing was changed in Open WebUI)") from None


def read_shim(path: Path) -> str:
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
