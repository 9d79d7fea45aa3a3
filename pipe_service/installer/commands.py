"""``pipe-service shim ...``: install the shim into Open WebUI, or print where the shim file is.

Wiring (in ``pipe_service/cli.py``)::

    add_shim_commands(commands)                   # after the other subcommands
    if args.command == "shim":                    # before settings are loaded: no sidecar config
        return run_shim_command(args)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TypeAlias

from pipe_service.installer.errors import InstallError
from pipe_service.installer.install import (
    DEFAULT_FUNCTION_ID,
    DEFAULT_SHIM_FILE,
    InstallOptions,
    InstallResult,
    install_shim,
)
from pipe_service.installer.model_sync import SyncOptions, sync_model_entries
from pipe_service.installer.owui_api import OpenWebUI
from pipe_service.installer.valves import parse_valve_assignments, valves_from_environment

API_KEY_ENV = "OWUI_API_KEY"
EXIT_FAILED = 1


Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_shim_commands(commands: Subcommands) -> None:
    """Register ``shim install`` and ``shim path`` under the ``pipe-service`` subcommands."""
    shim = commands.add_parser("shim", help="install the Open WebUI shim (pipe Function)")
    add_shim_actions(shim.add_subparsers(dest="shim_command", required=True))


def add_shim_actions(actions: Subcommands) -> None:
    """Register ``install`` and ``path`` (``python -m pipe_service.installer`` uses them bare)."""
    install = actions.add_parser(
        "install",
        help="create or update the Function through Open WebUI's API, set valves, enable it",
        description="Create or update the shim Function in Open WebUI, set its valves, enable "
        "it and list the models it offers. Needs an admin API key.",
    )
    install.add_argument(
        "--owui-url", required=True, help="Open WebUI base URL, e.g. http://127.0.0.1:8080"
    )
    install.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV),
        help=f"an admin's Open WebUI API key (sk-...) or JWT; default ${API_KEY_ENV}",
    )
    install.add_argument(
        "--valve",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a valve (repeatable), e.g. SIDECAR_ADDRESSES=unix:/run/pipe-service/sock",
    )
    install.add_argument(
        "--valve-from-env",
        action="append",
        default=[],
        metavar="NAME=ENV_VAR",
        help="set a valve from an environment variable (secrets stay out of shell history), "
        "e.g. SIDECAR_TOKEN=PIPE_SERVICE_API_TOKEN",
    )
    install.add_argument(
        "--function-id",
        default=DEFAULT_FUNCTION_ID,
        help=f"Function id, a lowercase Python identifier (default {DEFAULT_FUNCTION_ID})",
    )
    install.add_argument(
        "--shim-file",
        default=str(DEFAULT_SHIM_FILE),
        help="the pipe file to install (default: the packaged shim)",
    )
    install.add_argument(
        "--no-direct-uploads",
        action="store_true",
        help="do not install the companion Direct Uploads filter",
    )
    sync = actions.add_parser(
        "sync-models",
        help="write the Function's model entries (access, capabilities) via Open WebUI's API",
        description="Create, update and hide Open WebUI model entries for the Function's models "
        "so users see them with the access of its MODEL_ACCESS valve and the catalog's "
        "capabilities. The shim does this itself inside Open WebUI; this command does it over "
        "the REST API. Needs an admin API key.",
    )
    sync.add_argument("--owui-url", required=True, help="Open WebUI base URL")
    sync.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV),
        help=f"an admin's Open WebUI API key (sk-...) or JWT; default ${API_KEY_ENV}",
    )
    sync.add_argument("--function-id", default=DEFAULT_FUNCTION_ID, help="the Function's id")
    sync.add_argument("--shim-file", default=str(DEFAULT_SHIM_FILE), help="the installed shim file")
    sync.add_argument(
        "--sidecar-token-env",
        default=None,
        metavar="ENV_VAR",
        help="environment variable holding SIDECAR_TOKEN (TCP addresses only)",
    )
    sync.add_argument(
        "--resync",
        action="store_true",
        help="re-create the entries an admin deleted (otherwise they stay deleted)",
    )
    actions.add_parser("path", help="print the packaged shim file's path (to paste it by hand)")


def run_shim_command(args: argparse.Namespace) -> int:
    """Run ``pipe-service shim <command>``; errors print one line on stderr and exit 1."""
    if args.shim_command == "path":
        print(DEFAULT_SHIM_FILE)
        return 0
    command = f"pipe-service shim {args.shim_command}"
    if not args.api_key:
        print(f"{command}: --api-key (or ${API_KEY_ENV}) is required", file=sys.stderr)
        return EXIT_FAILED
    if args.shim_command == "sync-models":
        return _sync_models(args, command)
    try:
        options = InstallOptions(
            function_id=args.function_id,
            shim_file=Path(args.shim_file).expanduser(),
            valves={
                **parse_valve_assignments(args.valve),
                **valves_from_environment(args.valve_from_env, os.environ),
            },
            direct_uploads=not args.no_direct_uploads,
        )
        with OpenWebUI(args.owui_url, args.api_key) as owui:
            result = install_shim(owui, options)
    except InstallError as exc:
        print(f"pipe-service shim install: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(describe(result))
    return 0


def _sync_models(args: argparse.Namespace, command: str) -> int:
    try:
        token = None
        if args.sidecar_token_env:
            if args.sidecar_token_env not in os.environ:
                raise InstallError(f"--sidecar-token-env: ${args.sidecar_token_env} is not set")
            token = os.environ[args.sidecar_token_env]
        options = SyncOptions(
            function_id=args.function_id,
            shim_file=Path(args.shim_file).expanduser(),
            sidecar_token=token,
            resync=args.resync,
        )
        with OpenWebUI(args.owui_url, args.api_key) as owui:
            result = sync_model_entries(owui, options)
    except InstallError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(
        f"Function {args.function_id}: {result.models} models; entries created "
        f"{len(result.created)}, updated {len(result.updated)}, hidden {len(result.hidden)}"
    )
    for label, ids in (("created", result.created), ("updated", result.updated)):
        lines = [f"  {label}  {model_id}" for model_id in ids]
        if lines:
            print("\n".join(lines))
    for model_id in result.hidden:
        print(f"  hidden  {model_id}")
    for model_id in result.deleted:
        print(f"  deleted by an admin, not re-created (--resync)  {model_id}")
    return 0


def describe(result: InstallResult) -> str:
    """The human summary: what was done and the models offered (valve values are not shown)."""
    lines = [
        f"Function {result.function_id}: {'created' if result.created else 'updated'}"
        f"{', enabled' if result.toggled_on else ', already enabled'}",
    ]
    if result.filter_id:
        lines.append(f"Direct Uploads filter {result.filter_id}: installed, enabled, global")
    if result.valves_set:
        lines.append(f"valves set: {', '.join(sorted(result.valves_set))}")
    if result.models:
        lines.append(f"models offered ({len(result.models)}):")
        lines += [f"  {model.get('id')}  {model.get('name', '')}" for model in result.models]
    else:
        lines.append("no models offered: check the Function's log in Open WebUI and its valves")
    return "\n".join(lines)
