"""``pipe-service dlq list|show|retry|purge``: inspect and resolve dead letters.

Works on the databases directly (like ``keys rotate``), so it runs while the sidecar is up or
down: the dead-letter table (``dead_letters.database_url``) and, for ``retry`` and
``show --payload``, the artifact database (its salt derives the key ring that decrypts a
letter; a retry writes the rows there through the flusher's path).

Wiring (in ``pipe_service/cli.py``)::

    add_dlq_command(commands)
    if args.command == "dlq":                       # after settings are loaded
        return run_dlq_command(args, settings)
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
import time
from collections.abc import Callable
from typing import Any, TypeAlias

import trio
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from pipe_service.config import Settings
from pipe_service.storage.bootstrap import codec_for
from pipe_service.storage.codec import ArtifactCorruptError, ArtifactKeyError, PayloadCodec
from pipe_service.storage.dead_letters import DeadLetters
from pipe_service.storage.engine import Database, redact_database_url
from pipe_service.storage.keys import KeyConfigError
from pipe_service.storage.migrations import kdf_salt
from pipe_service.writebehind.dead_letter_retry import RetryOutcome, retry_letter

Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CONFIG = 78
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_S = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class DlqError(Exception):
    """Stops the command with a message for the operator (and an exit code)."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def duration_s(text: str) -> float:
    """``90``, ``90s``, ``30m``, ``12h``, ``7d`` → seconds (argparse type)."""
    match = _DURATION.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 90s, 30m, 12h, 7d)")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def add_dlq_command(commands: Subcommands) -> None:
    dlq = commands.add_parser("dlq", help="dead letters: artifacts that could not be persisted")
    actions = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = actions.add_parser("list", help="the dead letters, oldest first")
    listing.add_argument("--kind", default=None, help="only this kind (pending_entry, ...)")
    listing.add_argument(
        "--older-than", type=duration_s, default=None, metavar="AGE", help="e.g. 30m, 12h, 7d"
    )
    listing.add_argument("--limit", type=int, default=1000)
    listing.add_argument("--json", action="store_true", help="print the rows as JSON")
    show = actions.add_parser("show", help="one letter's metadata (its payload with --payload)")
    show.add_argument("id")
    show.add_argument(
        "--payload",
        action="store_true",
        help="also decrypt and print the stored items (user content: use with care)",
    )
    show.add_argument("--json", action="store_true")
    retry = actions.add_parser(
        "retry", help="re-apply letters to the artifact database; success removes them"
    )
    retry.add_argument("ids", nargs="*", metavar="ID")
    retry.add_argument("--all", action="store_true", help="every letter (oldest first)")
    retry.add_argument("--kind", default=None, help="with --all: only this kind")
    retry.add_argument("--json", action="store_true")
    purge = actions.add_parser("purge", help="delete letters for good")
    purge.add_argument("ids", nargs="*", metavar="ID")
    purge.add_argument("--older-than", type=duration_s, default=None, metavar="AGE")
    purge.add_argument("--all", action="store_true", help="every letter")
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    purge.add_argument("--json", action="store_true")


def run_dlq_command(
    args: argparse.Namespace, settings: Settings, *, confirm: Callable[[str], str] | None = None
) -> int:
    """Run one ``dlq`` action; ``confirm`` asks the purge question (default: the terminal)."""
    errors = Console(stderr=True)
    try:
        return trio.run(_run, args, settings, confirm)
    except DlqError as exc:
        errors.print(f"pipe-service dlq: {exc}", markup=False, highlight=False)
        return exc.exit_code
    except (KeyConfigError, ArtifactKeyError) as exc:
        errors.print(f"pipe-service dlq: {exc}", markup=False, highlight=False)
        return EXIT_CONFIG
    except SQLAlchemyError as exc:
        first = (str(exc).splitlines() or [""])[0][:200]
        errors.print(
            f"pipe-service dlq: database error: {type(exc).__name__}: {first}",
            markup=False,
            highlight=False,
        )
        return EXIT_FAILED


async def _run(
    args: argparse.Namespace, settings: Settings, confirm: Callable[[str], str] | None
) -> int:
    store = Database.open(settings.effective_dead_letter_url, pool_size=1)
    letters = DeadLetters(store)
    try:
        action = args.dlq_command
        if action == "list":
            return await _list(letters, args)
        if action == "show":
            return await _show(letters, settings, args)
        if action == "retry":
            return await _retry(letters, settings, args)
        return await _purge(letters, args, confirm)
    finally:
        store.dispose()


async def _list(letters: DeadLetters, args: argparse.Namespace) -> int:
    rows = await letters.list_letters(
        kind=args.kind, older_than_s=args.older_than, limit=max(1, args.limit)
    )
    if args.json:
        print(json.dumps([row.as_dict() for row in rows], indent=2))
        return 0
    console = Console()
    if not rows:
        console.print("no dead letters")
        return 0
    table = Table(title=f"dead letters ({len(rows)})")
    for column in ("id", "kind", "age", "attempts", "items", "owner", "reason"):
        table.add_column(column, overflow="fold")
    now = time.time()
    for row in rows:
        table.add_row(
            row.id,
            row.kind,
            _age(now - row.first_failed_at),
            str(row.attempts),
            str(len(row.item_ids)),
            row.owner,
            row.last_error or row.reason,
        )
    console.print(table)
    return 0


async def _show(letters: DeadLetters, settings: Settings, args: argparse.Namespace) -> int:
    summary = await letters.summary(args.id)
    if summary is None:
        raise DlqError(f"no dead letter {args.id!r} (see `pipe-service dlq list`)")
    shown: dict[str, Any] = summary.as_dict()
    if args.payload:
        codec = await _codec(settings)
        shown["payload"] = _readable(await letters.payload(codec, args.id), codec)
    if args.json:
        print(json.dumps(shown, indent=2, ensure_ascii=False))
        return 0
    console = Console()
    table = Table(show_header=False, title=f"dead letter {summary.id}")
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for name, value in shown.items():
        if name != "payload":
            table.add_row(name, _cell(name, value))
    console.print(table)
    if "payload" in shown:
        console.print_json(json.dumps(shown["payload"], ensure_ascii=False))
    return 0


async def _retry(letters: DeadLetters, settings: Settings, args: argparse.Namespace) -> int:
    if bool(args.ids) == bool(args.all):
        raise DlqError("name the letters to retry, or pass --all (not both)", EXIT_USAGE)
    ids = list(args.ids) if args.ids else await letters.ids(kind=args.kind)
    if not ids:
        print("[]" if args.json else "no dead letters to retry")
        return 0
    codec = await _codec(settings)
    database = Database.open(settings.effective_database_url, pool_size=1)
    outcomes: list[RetryOutcome] = []
    try:
        with Progress(
            TextColumn("retrying"),
            BarColumn(),
            MofNCompleteColumn(),
            console=Console(stderr=True),
            disable=args.json or len(ids) < 2,
            transient=True,
        ) as progress:
            task = progress.add_task("retry", total=len(ids))
            for letter_id in ids:
                outcomes.append(await retry_letter(letters, database, codec, letter_id))
                progress.advance(task)
    finally:
        database.dispose()
    failed = [o for o in outcomes if not o.ok]
    if args.json:
        print(json.dumps([_outcome(o) for o in outcomes], indent=2))
    else:
        for outcome in outcomes:
            if outcome.ok:
                print(f"{outcome.id}: restored {outcome.rows} row(s)")
            else:
                print(f"{outcome.id}: failed: {outcome.error}")
        print(f"{len(outcomes) - len(failed)} restored, {len(failed)} failed")
    return EXIT_FAILED if failed else 0


async def _purge(
    letters: DeadLetters, args: argparse.Namespace, confirm: Callable[[str], str] | None
) -> int:
    chosen = sum((bool(args.ids), args.older_than is not None, bool(args.all)))
    if chosen != 1:
        raise DlqError("purge needs exactly one of: IDs, --older-than AGE, --all", EXIT_USAGE)
    if args.all:
        doomed = await letters.ids()
        what = "every dead letter"
    elif args.older_than is not None:
        doomed = await letters.ids(older_than_s=args.older_than)
        what = f"dead letters older than {_age(args.older_than)}"
    else:
        doomed = list(args.ids)
        what = f"{len(doomed)} named dead letter(s)"
    if not doomed:
        print(json.dumps({"purged": 0}) if args.json else "nothing to purge")
        return 0
    if not args.yes:
        if confirm is None and not sys.stdin.isatty():
            raise DlqError("refusing to purge without confirmation: pass --yes", EXIT_USAGE)
        answer = (confirm or input)(f"delete {what} ({len(doomed)})? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing purged")
            return EXIT_FAILED
    # Only what was listed above is deleted, even if new letters arrived meanwhile.
    purged = await letters.purge(ids=doomed)
    print(json.dumps({"purged": purged}) if args.json else f"purged {purged} dead letter(s)")
    return 0


async def _codec(settings: Settings) -> PayloadCodec:
    database = Database.open(settings.effective_database_url, pool_size=1)
    try:
        try:
            salt = await database.run_sync(kdf_salt)
        except SQLAlchemyError as exc:
            raise DlqError(
                f"the artifact database ({redact_database_url(settings.effective_database_url)}) "
                f"is not reachable ({type(exc).__name__}); it holds the salt of the key that "
                "decrypts letters, and a retry writes there"
            ) from None
        return await codec_for(settings.persistence, settings.var_dir, salt=salt, create_key=False)
    finally:
        database.dispose()


def _readable(value: Any, codec: PayloadCodec) -> Any:
    """A pending entry with each row's stored payload decoded into its item."""
    if not isinstance(value, dict) or not isinstance(value.get("rows"), list):
        return value
    rows = []
    for row in value["rows"]:
        shown = {k: v for k, v in row.items() if k != "payload"}
        try:
            shown["item"] = codec.decode(base64.b64decode(row["payload"]))
        except (ArtifactKeyError, ArtifactCorruptError, ValueError, KeyError) as exc:
            shown["item"] = f"<unreadable: {type(exc).__name__}>"
        rows.append(shown)
    return {**value, "rows": rows}


def _outcome(outcome: RetryOutcome) -> dict[str, Any]:
    return {"id": outcome.id, "ok": outcome.ok, "rows": outcome.rows, "error": outcome.error}


def _cell(name: str, value: Any) -> str:
    if name.endswith("_at") and isinstance(value, float):
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(value))
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"
