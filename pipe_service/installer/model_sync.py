"""``pipe-service shim sync-models``: write the shim's model entries through Open WebUI's REST API.

The shim keeps Open WebUI's model entries in step with the catalog by itself, from ``pipes()``
inside Open WebUI (its internal model API, version-checked). This command does the same from
outside, over the public REST API, with the plan of the very shim file that is installed
(``plan_model_entries``), so both paths agree: for an Open WebUI version the shim does not know,
after changing the access policy, or to see what the sync does.

Synopsis::

    with OpenWebUI(url, api_key) as owui:
        result = sync_model_entries(owui, SyncOptions(function_id="openrouter"))
    print(result.created, result.updated, result.hidden)
"""

from __future__ import annotations

import asyncio
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from pipe_service.installer.errors import InstallError
from pipe_service.installer.install import (
    DEFAULT_FUNCTION_ID,
    DEFAULT_SHIM_FILE,
    loaded_shim,
    read_shim,
)
from pipe_service.installer.owui_api import OpenWebUI

__all__ = ["SyncOptions", "SyncResult", "sync_model_entries", "sync_policy"]


@dataclass(frozen=True)
class SyncOptions:
    function_id: str = DEFAULT_FUNCTION_ID
    shim_file: Path = DEFAULT_SHIM_FILE
    sidecar_token: str | None = None
    """For TCP addresses: the token in plain text (the stored valve is encrypted with
    Open WebUI's ``WEBUI_SECRET_KEY``, which this command does not have)."""
    resync: bool = False
    """Re-create the entries an admin deleted (otherwise they stay deleted)."""


@dataclass(frozen=True)
class SyncResult:
    models: int
    """Models the sidecar lists."""
    created: list[str]
    updated: list[str]
    hidden: list[str]
    """Entries deactivated because their model left the catalog."""
    deleted: list[str]
    """Entries an admin deleted, left deleted (``--resync`` re-creates them)."""


def sync_model_entries(owui: OpenWebUI, options: SyncOptions) -> SyncResult:
    """Create, update and hide the Function's model entries to match the sidecar's catalog."""
    content = read_shim(options.shim_file)
    owui.require_admin()
    if owui.get_function(options.function_id) is None:
        raise InstallError(
            f"no Function {options.function_id} in Open WebUI: install it first "
            "(pipe-service shim install)"
        )
    stored = owui.valves(options.function_id)
    with loaded_shim(content, options.shim_file) as shim:
        pipe = _pipe_with_valves(shim, stored, options.sidecar_token)
        rows = asyncio.run(_catalog(shim, pipe))
        policy = sync_policy(shim, pipe.valves, owui.groups())
        entries = {str(entry["id"]): entry for entry in owui.model_entries() if "id" in entry}
        before = shim.SyncState.from_text(str(stored.get("MODEL_SYNC_STATE") or ""))
        resync = options.resync or bool(stored.get("MODEL_RESYNC"))
        state = shim.note_deletions(options.function_id, before, entries, resync=resync)
        changes = shim.plan_model_entries(
            options.function_id, rows, entries, policy, deleted=state.deleted
        )
    created: list[str] = []
    updated: list[str] = []
    hidden: list[str] = []
    for change in changes:
        if change.action == "create":
            owui.create_model_entry(change.form)
            created.append(change.model_id)
            continue
        owui.update_model_entry(change.form)
        if change.access_changed:
            owui.update_model_access(change.model_id, change.form["access_grants"])
        (updated if change.form["is_active"] else hidden).append(change.model_id)
    state = shim.state_after(state, changes)
    if state != before or resync:
        # The whole stored set goes back: Open WebUI replaces the valves with what it gets.
        values = {**stored, "MODEL_SYNC_STATE": state.to_text(), "MODEL_RESYNC": False}
        owui.update_valves(options.function_id, values)
    return SyncResult(len(rows), created, updated, hidden, sorted(state.deleted))


def _pipe_with_valves(shim: types.ModuleType, stored: dict[str, Any], token: str | None) -> Any:
    values = {name: value for name, value in stored.items() if value is not None}
    if token is not None:
        values["SIDECAR_TOKEN"] = token
    pipe = shim.Pipe()
    pipe.valves = shim.Pipe.Valves(**values)
    return pipe


async def _catalog(shim: types.ModuleType, pipe: Any) -> list[dict[str, Any]]:
    """The sidecar's models as the shim lists them (first address that answers)."""
    failures: list[str] = []
    for address in shim.parse_addresses(pipe.valves.SIDECAR_ADDRESSES):
        try:
            rows: list[dict[str, Any]] = await pipe._fetch_models(address)
        except shim.SecretUnreadableError as exc:
            failures.append(
                f"{address.text}: {exc}; pass the token with --sidecar-token-env ENV_VAR"
            )
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            failures.append(f"{address.text}: {shim._reason(exc)}")
        else:
            return rows
    raise InstallError("no sidecar answered: " + "; ".join(failures))


def sync_policy(shim: types.ModuleType, valves: Any, groups: list[dict[str, Any]]) -> Any:
    """The shim's ``SyncPolicy`` from its valves; group names or ids resolved to ids."""
    by_key = {str(group.get("id")): str(group.get("id")) for group in groups}
    by_key |= {str(group.get("name", "")).lower(): str(group.get("id")) for group in groups}
    wanted = [name.strip() for name in valves.MODEL_ACCESS_GROUPS.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in by_key and name.lower() not in by_key]
    if unknown:
        raise InstallError(f"MODEL_ACCESS_GROUPS: no Open WebUI group {', '.join(unknown)}")
    return shim.SyncPolicy(
        access=valves.MODEL_ACCESS,
        group_ids=tuple(by_key.get(name) or by_key[name.lower()] for name in wanted),
        update_capabilities=valves.UPDATE_MODEL_CAPABILITIES,
        update_descriptions=valves.UPDATE_MODEL_DESCRIPTIONS,
        update_images=valves.UPDATE_MODEL_IMAGES,
        overwrite_edits=valves.MODEL_SYNC_OVERWRITE_EDITS,
    )
