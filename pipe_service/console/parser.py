"""Register ``pipe-service status|top|models|chat|set|reload`` (light: argparse only).

Wiring (in ``pipe_service/cli.py``)::

    add_console_commands(commands)
    if args.command in CONSOLE_COMMANDS:          # after the settings are loaded
        from pipe_service.console.commands import run_console_command
        return run_console_command(args, settings)
"""

from __future__ import annotations

import argparse
from typing import TypeAlias

Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

CONSOLE_COMMANDS = frozenset({"status", "top", "models", "chat", "set", "reload"})
CAPABILITIES = (
    "reasoning",
    "tools",
    "vision",
    "files",
    "web_search",
    "structured_outputs",
    "image_output",
    "free",
)


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
