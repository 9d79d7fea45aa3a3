"""The ``pipe-service`` command: serve, show the configuration, run the simulator alone."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import NoReturn

import trio
from pydantic import BaseModel

from pipe_service.bench.cli import add_bench_command, run_bench_command
from pipe_service.config import ConfigError, Settings, load_settings
from pipe_service.config.reference import render_reference, update_reference_doc
from pipe_service.console.dlq import add_dlq_command, run_dlq_command
from pipe_service.console.parser import CONSOLE_COMMANDS, add_console_commands
from pipe_service.installer.commands import add_shim_commands, run_shim_command
from pipe_service.logsink.handler import install_sink_handler
from pipe_service.simulator.standalone import add_pacing_options
from pipe_service.storage.commands import add_storage_commands, run_storage_command

logger = logging.getLogger("pipe_service.cli")

EXIT_CONFIG = 78  # EX_CONFIG


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "bench":
        return run_bench_command(args)
    if args.command == "shim":
        return run_shim_command(args)
    if args.command == "config" and args.update_docs is not None:
        changed = update_reference_doc(args.update_docs)
        print(f"{args.update_docs}: {'updated' if changed else 'already current'}")
        return 0
    if args.command == "config" and args.reference:
        print(render_reference())
        return 0
    try:
        settings, sources = load_settings(os.environ, config_path=args.config)
    except ConfigError as exc:
        print(f"pipe-service: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "config":
        print(json.dumps(redacted_settings(settings, sources), indent=2))
        return 0
    if args.command == "log-archive":
        return show_log_archive(args.file, settings)
    if args.command in CONSOLE_COMMANDS:
        from pipe_service.console.commands import run_console_command

        return run_console_command(args, settings)
    install_sink_handler(settings.log_level, settings.log_format, settings.logging.user_levels)
    if args.command in ("db", "keys"):
        return run_storage_command(args, settings)
    if args.command == "dlq":
        return run_dlq_command(args, settings)
    if args.command == "serve":
        return _serve(settings, args)
    if args.command == "worker":
        return _worker(settings, args)
    if args.command == "simulator":
        from pipe_service.simulator.standalone import config_from_args, run_standalone

        trio.run(run_standalone, args.host, args.port, config_from_args(args))
        return 0
    parser.error(f"unknown command {args.command}")


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from pipe_service.worker_pool import run_workers, worker_count

    count = worker_count(settings.workers if args.workers is None else args.workers)
    if count == 1:
        from pipe_service.service import run_service

        return trio.run(partial(run_service, settings, reload_source=_reload_source(args)))
    return _exit_now(trio.run(partial(run_workers, settings, count, config_path=args.config)))


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from pipe_service.service import run_service
    from pipe_service.workers.handoff import HandoffError, WorkerHandoff

    try:
        handoff = WorkerHandoff.decode(sys.stdin.buffer.readline())
    except HandoffError as exc:
        print(exc, file=sys.stderr)
        return 2
    service = partial(run_service, settings, reload_source=_reload_source(args), worker=handoff)
    return _exit_now(trio.run(service))


def _reload_source(args: argparse.Namespace) -> Callable[[], Settings]:
    def reload_source() -> Settings:
        return load_settings(os.environ, config_path=args.config)[0]

    return reload_source


def _exit_now(code: int) -> NoReturn:
    """End a stopped worker (or their supervisor) without the interpreter's teardown.

    Everything is closed and logged by now; what teardown would add is a final garbage
    collection of the whole heap, measured at 2-7 s per process on a loaded 2-core host,
    which would push a stop past the grace period (the service manager then kills it).
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def redacted_settings(settings: Settings, sources: dict[str, str]) -> dict[str, object]:
    """The effective settings as JSON, secrets shown as set/unset only, with their sources."""
    values = json.loads(settings.model_dump_json())
    for name, field in Settings.model_fields.items():
        if "SecretStr" in str(field.annotation):
            values[name] = "<set, redacted>" if getattr(settings, name) is not None else None
        section = getattr(settings, name)
        if isinstance(section, BaseModel):
            for inner, inner_field in type(section).model_fields.items():
                if "SecretStr" in str(inner_field.annotation):
                    secret = getattr(section, inner)
                    values[name][inner] = "<set, redacted>" if secret is not None else None
    if settings.database_url:
        from pipe_service.storage.engine import redact_database_url

        values["database_url"] = redact_database_url(settings.database_url)
    if settings.dead_letters.database_url:
        from pipe_service.storage.engine import redact_database_url

        values["dead_letters"]["database_url"] = redact_database_url(
            settings.dead_letters.database_url
        )
    if settings.redis_url:
        values["redis_url"] = _redact_url_password(settings.redis_url)
    return {
        "settings": values,
        "sources": {name: sources.get(name, "default") for name in Settings.model_fields},
        "derived": {
            "socket_path": str(settings.effective_socket_path),
            "tcp_token": _tcp_token_source(settings),
            "upstream": "simulator" if settings.uses_simulator else settings.upstream.base_url,
        },
    }


def show_log_archive(path: Path, settings: Settings) -> int:
    from pipe_service.logsink.archive import ArchiveReadError, archive_codec, read_archive

    key = settings.logging.archive_key
    if key is None:
        print("pipe-service: set logging.archive_key to read archives", file=sys.stderr)
        return EXIT_CONFIG
    try:
        print(read_archive(path, archive_codec(key.get_secret_value())))
    except ArchiveReadError as exc:
        print(f"pipe-service: {path}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"pipe-service: {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def _tcp_token_source(settings: Settings) -> str:
    if not settings.port:
        return "none: TCP is off"
    if settings.api_token is not None:
        return "api_token (configured)"
    return f"{settings.api_token_path} (generated on first start if missing)"


def _redact_url_password(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def _worker_option(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if not 0 <= value <= 256:
        raise argparse.ArgumentTypeError("must be between 0 (one per CPU) and 256")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pipe-service", description=__doc__)
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="TOML configuration file (else $PIPE_SERVICE_CONFIG)",
    )
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="run the sidecar until SIGTERM/SIGINT")
    serve.add_argument(
        "--workers",
        type=_worker_option,
        default=None,
        metavar="N",
        help="worker processes sharing the sockets (0 = one per CPU; 1 = a single process; "
        "default: the workers setting, whose default is one per CPU)",
    )
    # Started by `serve --workers N` only, with a handoff on stdin; not for operators.
    commands.add_parser("worker")
    config = commands.add_parser(
        "config", help="print the effective configuration, secrets redacted"
    )
    config.add_argument(
        "--reference", action="store_true", help="print the configuration reference (Markdown)"
    )
    config.add_argument(
        "--update-docs",
        type=Path,
        default=None,
        metavar="FILE",
        help="rewrite the settings tables of FILE (docs/configuration.md) from the model",
    )
    simulator = commands.add_parser("simulator", help="run the OpenRouter simulator on its own")
    simulator.add_argument("--host", default="127.0.0.1")
    simulator.add_argument("--port", type=int, default=8790)
    simulator.add_argument("--catalog", type=Path, default=None, help="catalog JSON to serve")
    simulator.add_argument(
        "--request-log",
        type=int,
        default=0,
        metavar="N",
        help="keep the last N requests for GET /_sim/requests (default 0: no log; it holds "
        "prompts, so only on a trusted machine)",
    )
    add_shim_commands(commands)
    add_pacing_options(simulator)
    add_bench_command(commands)
    add_console_commands(commands)
    archive = commands.add_parser(
        "log-archive", help="decrypt one request log archive (needs logging.archive_key)"
    )
    archive.add_argument("file", type=Path)
    add_storage_commands(commands)
    add_dlq_command(commands)
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
