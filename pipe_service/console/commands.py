"""``pipe-service status|top|models|chat|set|reload``: operate a running sidecar.

Wiring (in ``pipe_service/cli.py``)::

    add_console_commands(commands)
    if args.command in CONSOLE_COMMANDS:          # after the settings are loaded
        return run_console_command(args, settings)
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from typing import Any, TypeAlias

import trio
from rich.console import Console

from pipe_service.config import Settings
from pipe_service.console.chat_client import request_frame, run_chat
from pipe_service.console.models_view import CAPABILITIES, filter_models, render_models
from pipe_service.console.sidecar_client import (
    SidecarClient,
    SidecarRequestError,
    SidecarUnreachableError,
)
from pipe_service.console.status_view import render_status
from pipe_service.console.top_view import run_top

Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

CONSOLE_COMMANDS = frozenset({"status", "top", "models", "chat", "set", "reload"})
EXIT_FAILED = 1
EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE: no sidecar on the socket


def add_console_commands(commands: Subcommands) -> None:
    status = commands.add_parser(
        "status", help="actors, inboxes, slots, breakers, error rates of the running sidecar"
    )
    status.add_argument("--json", action="store_true", help="print /status as JSON")
    top = commands.add_parser("top", help="live view of streams, rates and latency")
    top.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    top.add_argument(
        "--iterations", type=int, default=None, help="stop after N refreshes (default: Ctrl-C)"
    )
    models = commands.add_parser("models", help="the offered catalog with capabilities")
    models.add_argument("search", nargs="?", default=None, help="part of a model id or name")
    models.add_argument(
        "--needs",
        default="",
        help=f"comma-separated capabilities every model must have ({', '.join(CAPABILITIES)})",
    )
    models.add_argument("--json", action="store_true", help="print the rows as JSON")
    chat = commands.add_parser("chat", help="one chat through the sidecar, as the shim does")
    chat.add_argument("prompt")
    chat.add_argument("--model", default="openrouter/auto", help="OpenRouter slug or OWUI id")
    chat.add_argument("--user", default="pipe-service-cli", help="user id sent with the chat")
    chat.add_argument("--timing", action="store_true", help="phase timings in the usage line")
    chat.add_argument("--reasoning", action="store_true", help="ask for visible reasoning")
    setting = commands.add_parser(
        "set", help="change a setting at run time (admission.slots=8, log_level=DEBUG, ...)"
    )
    setting.add_argument("assignment", metavar="KEY=VALUE")
    commands.add_parser(
        "reload", help="re-read the TOML file and environment (same as SIGHUP), apply live parts"
    )


def run_console_command(args: argparse.Namespace, settings: Settings) -> int:
    console = Console()
    errors = Console(stderr=True)
    try:
        with SidecarClient(settings.effective_socket_path) as sidecar:
            return _run(args, settings, sidecar, console)
    except SidecarUnreachableError as exc:
        errors.print(f"pipe-service: {exc}", markup=False, highlight=False)
        return EXIT_UNAVAILABLE
    except SidecarRequestError as exc:
        errors.print(f"pipe-service {args.command}: {exc}", markup=False, highlight=False)
        return EXIT_FAILED


def _run(
    args: argparse.Namespace, settings: Settings, sidecar: SidecarClient, console: Console
) -> int:
    if args.command == "status":
        status = sidecar.get_json("/status")
        if args.json:
            print(json.dumps(status, indent=2))
        else:
            console.print(render_status(status))
        return 0
    if args.command == "top":
        run_top(
            lambda: sidecar.get_json("/status"),
            console=console,
            interval_s=max(0.1, args.interval),
            iterations=args.iterations,
        )
        return 0
    if args.command == "models":
        rows = sidecar.get_json("/admin/models")["data"]
        needs = [name.strip() for name in args.needs.split(",") if name.strip()]
        unknown = [name for name in needs if name not in CAPABILITIES]
        if unknown:
            raise SidecarRequestError(
                f"unknown capability {', '.join(unknown)}; known: {', '.join(CAPABILITIES)}"
            )
        chosen = filter_models(rows, search=args.search, needs=needs)
        if args.json:
            print(json.dumps(chosen, indent=2))
        else:
            console.print(render_models(chosen))
        return 0
    if args.command == "set":
        key, sep, value = args.assignment.partition("=")
        if not sep or not key.strip():
            raise SidecarRequestError("expected KEY=VALUE, e.g. admission.slots=8")
        return _report(console, sidecar.post_json("/admin/settings", _setting(key, value)))
    if args.command == "reload":
        return _report(console, sidecar.post_json("/admin/reload"))
    if args.command == "chat":
        return _chat(args, settings)
    raise SidecarRequestError(f"unknown command {args.command}")


def _setting(key: str, value: str) -> dict[str, Any]:
    return {"key": key.strip(), "value": value}


def _report(console: Console, report: dict[str, list[str]]) -> int:
    applied = ", ".join(report.get("applied", [])) or "nothing changed"
    console.print(f"applied: {applied}", markup=False, highlight=False)
    restart = report.get("needs_restart", [])
    if restart:
        console.print(
            f"needs restart (left unchanged): {', '.join(restart)}", markup=False, highlight=False
        )
    return 0


def _chat(args: argparse.Namespace, settings: Settings) -> int:
    request = request_frame(
        args.model,
        args.prompt,
        user_id=args.user,
        show_timing=args.timing,
        reasoning=args.reasoning,
    )
    terminal = sys.stdout.isatty()
    waiting = (
        Console(stderr=True).status(f"waiting for {args.model}…", spinner="dots")
        if terminal
        else None
    )
    try:
        outcome = trio.run(
            partial(
                run_chat,
                settings.effective_socket_path,
                request,
                sys.stdout,
                color=terminal,
                waiting=waiting,
            )
        )
    except OSError as exc:
        raise SidecarUnreachableError(
            f"no sidecar answers on {settings.effective_socket_path} ({exc.strerror or exc})"
        ) from None
    return 0 if outcome.kind == "done" else EXIT_FAILED
