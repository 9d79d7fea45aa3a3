"""Run ``pipe-service status|top|models|chat|set|reload`` against a running sidecar.

Imported only when one of these commands runs (``console/parser.py`` registers them), so
``pipe-service serve`` does not load the terminal libraries.
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from typing import Any

import trio
from rich.console import Console

from pipe_service.config import Settings
from pipe_service.console.chat_client import request_frame, run_chat
from pipe_service.console.models_view import filter_models, render_models
from pipe_service.console.parser import CAPABILITIES
from pipe_service.console.sidecar_client import (
    SidecarClient,
    SidecarRequestError,
    SidecarUnreachableError,
)
from pipe_service.console.status_view import render_status
from pipe_service.console.top_view import run_top

EXIT_FAILED = 1
EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE: no sidecar on the socket


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


def _report(console: Console, report: dict[str, Any]) -> int:
    applied = ", ".join(report.get("applied", [])) or "nothing changed"
    console.print(f"applied: {applied}", markup=False, highlight=False)
    restart = report.get("needs_restart", [])
    if restart:
        console.print(
            f"needs restart (left unchanged): {', '.join(restart)}", markup=False, highlight=False
        )
    # With several workers the supervisor process says what each worker did.
    for outcome in report.get("workers", []):
        note = outcome.get("note") or outcome.get("error")
        console.print(
            f"worker {outcome.get('index')} (pid {outcome.get('pid') or '-'}): "
            f"{outcome.get('outcome')}" + (f" ({note})" if note else ""),
            markup=False,
            highlight=False,
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
