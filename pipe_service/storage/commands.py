"""``pipe-service db upgrade`` and ``pipe-service keys rotate``: operator commands on the store.

Wiring (in ``pipe_service/cli.py``)::

    add_storage_commands(commands)
    if args.command in ("db", "keys"):            # after settings are loaded
        return run_storage_command(args, settings)

``keys rotate`` re-encrypts every row still on an older key with the current one, in batches
that each commit on their own: interrupt it and run it again, it continues where it stopped.
With ``--generate`` it first puts a new key at the top of the key file (only for a generated
key; a configured key is changed in the configuration).
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from typing import TypeAlias

import trio
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from pipe_service.config import Settings
from pipe_service.storage.bootstrap import codec_for
from pipe_service.storage.codec import ArtifactKeyError
from pipe_service.storage.engine import Database
from pipe_service.storage.keys import KeyConfigError, key_file_path, prepend_new_key
from pipe_service.storage.migrations import (
    CODE_VERSION,
    SchemaError,
    current_version,
    kdf_salt,
    pending,
    upgrade,
)
from pipe_service.storage.rotation import count_to_rotate, rotate_in_batches

Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

EXIT_FAILED = 1
EXIT_CONFIG = 78
DEFAULT_ROTATE_BATCH = 500


class CommandError(Exception):
    """Stops a command with a message for the operator (and an exit code)."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def add_storage_commands(commands: Subcommands) -> None:
    db = commands.add_parser("db", help="the artifact database")
    db_actions = db.add_subparsers(dest="db_command", required=True)
    db_actions.add_parser(
        "upgrade",
        help="apply pending schema migrations (stop every sidecar on the database first for "
        "migrations that are not run at start)",
    )
    db_actions.add_parser("status", help="print the schema version and pending migrations")
    keys = commands.add_parser("keys", help="artifact encryption keys")
    key_actions = keys.add_subparsers(dest="keys_command", required=True)
    rotate = key_actions.add_parser(
        "rotate",
        help="re-encrypt stored artifacts with the current key (resumable)",
        description="Re-encrypt every artifact still encrypted with an older key. Introduce "
        "the new key first: --generate for the generated key file, or set "
        "persistence.encryption_key to the new secret and add the old one to "
        "persistence.previous_keys.",
    )
    rotate.add_argument(
        "--generate",
        action="store_true",
        help="first add a new generated key to <var_dir>/artifact-keys (it becomes current)",
    )
    rotate.add_argument(
        "--batch", type=int, default=DEFAULT_ROTATE_BATCH, help="rows per transaction"
    )


def run_storage_command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        if args.command == "db":
            return trio.run(_db_command, args.db_command, settings)
        return trio.run(_rotate, settings, args.generate, args.batch)
    except CommandError as exc:
        print(f"pipe-service: {exc}", file=sys.stderr)
        return exc.exit_code
    except (SchemaError, KeyConfigError, ArtifactKeyError) as exc:
        print(f"pipe-service: {exc}", file=sys.stderr)
        return EXIT_CONFIG


async def _db_command(action: str, settings: Settings) -> int:
    database = Database.open(settings.effective_database_url, pool_size=1)
    try:
        if action == "status":
            version = await database.run_sync(current_version)
            todo = await database.run_sync(pending)
            print(f"{database.redacted_url}: schema version {version} (this code: {CODE_VERSION})")
            for migration in todo:
                print(f"  pending {migration.version}: {migration.description}")
            return 0
        applied = await database.run_sync(partial(upgrade, at_start=False))
    finally:
        database.dispose()
    if not applied:
        print(f"{database.redacted_url}: already at schema version {CODE_VERSION}")
    for migration in applied:
        print(f"applied migration {migration.version}: {migration.description}")
    return 0


async def _rotate(settings: Settings, generate: bool, batch: int) -> int:
    if batch < 1:
        raise CommandError("--batch must be at least 1", EXIT_CONFIG)
    options = settings.persistence
    if generate:
        if options.encryption_key is not None:
            raise CommandError(
                "persistence.encryption_key is set, so the key file is not the current key: "
                "set the new secret there, move the old one to persistence.previous_keys, "
                "then run `pipe-service keys rotate` without --generate",
                EXIT_CONFIG,
            )
        prepend_new_key(key_file_path(settings.var_dir))
    database = Database.open(settings.effective_database_url, pool_size=1)
    try:
        salt = await database.run_sync(kdf_salt)
        codec = await codec_for(options, settings.var_dir, salt=salt, create_key=False)
        current = codec.current_key_id
        if current is None:
            raise CommandError("no encryption key is configured: nothing to rotate to", EXIT_CONFIG)
        total = await database.run_sync(partial(count_to_rotate, current_key_id=current))
        if total == 0:
            print(f"every encrypted artifact already uses the current key ({current})")
            return 0
        with Progress(
            TextColumn("re-encrypting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            transient=False,
        ) as progress:
            task = progress.add_task("rotate", total=total)
            done = 0
            async for done in rotate_in_batches(database, codec, batch_size=batch):
                progress.update(task, completed=min(done, total))
        print(f"re-encrypted {done} artifact(s) with key {current}")
        return 0
    finally:
        database.dispose()
