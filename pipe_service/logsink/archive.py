"""Encrypted per-request log archives, for incident response.

Each finished request's log lines (its ring buffer) become one file
``<archive_dir>/<YYYY-MM-DD>/<request_id>.log.lz4.fernet`` written with the persistence codec
(:class:`~pipe_service.storage.codec.PayloadCodec`: JSON → LZ4 when smaller → Fernet, keyed
with ``logging.archive_key``), the same envelope as stored artifacts and dead letters. Day
folders older than the retention are deleted by the sink actor, at start and then hourly
(``actor.apply_retention``). ``pipe-service log-archive FILE`` decrypts one for reading.

Archives written before the codec was shared (Fernet over a bare LZ4 frame) stay readable:
:func:`read_archive` tells them apart by the LZ4 frame magic after decryption (a codec body
starts with its header byte 0x00 or 0x01, never 0x04).

Synopsis::

    archive = RequestLogArchive(Path("var/log-archives"), archive_codec(key), retention_days=14)
    archive.write_all([RequestLog("req_1", ("line 1", "line 2"), time.time())])
    read_archive(archive.path_for(log), archive_codec(key))      # 'line 1\nline 2'
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import lz4.frame

from pipe_service.logsink.messages import RequestLog
from pipe_service.storage.codec import (
    ArtifactCorruptError,
    ArtifactKeyError,
    PayloadCodec,
    unpack,
)
from pipe_service.storage.keys import KeyRing

SUFFIX = ".log.lz4.fernet"
LEGACY_LZ4_MAGIC: Final = b"\x04\x22\x4d\x18"  # the LZ4 frame magic of pre-codec archives
_SAFE_ID = re.compile(r"[^A-Za-z0-9_.-]")


class ArchiveReadError(Exception):
    """An archive cannot be read: wrong key, damaged or not an archive (never shows the key)."""


def archive_codec(fernet_key: str) -> PayloadCodec:
    """The persistence codec keyed with a ready Fernet key (``logging.archive_key``)."""
    return PayloadCodec(KeyRing.from_fernet_keys([fernet_key.encode("ascii")]))


class RequestLogArchive:
    """Writes request archives and applies the retention; used from the sink's worker thread."""

    def __init__(self, directory: Path, codec: PayloadCodec, *, retention_days: int) -> None:
        self.directory = directory
        self._codec = codec
        self._retention = timedelta(days=retention_days)
        self.written = 0
        self.failed = 0

    def path_for(self, log: RequestLog) -> Path:
        day = datetime.fromtimestamp(log.finished_at, UTC).strftime("%Y-%m-%d")
        return self.directory / day / f"{_SAFE_ID.sub('_', log.request_id)}{SUFFIX}"

    def write_all(self, logs: Sequence[RequestLog]) -> list[str]:
        """Archive each log; returns a JSON log line per failure (the caller writes them)."""
        failures: list[str] = []
        for log in logs:
            try:
                path = self.path_for(log)
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                record = {
                    "request_id": log.request_id,
                    "finished_at": log.finished_at,
                    "lines": list(log.lines),
                }
                path.write_bytes(self._codec.encode(record, encrypt=True))
                self.written += 1
            except OSError as exc:
                self.failed += 1
                failures.append(
                    json.dumps(
                        {
                            "ts": round(time.time(), 3),
                            "level": "ERROR",
                            "logger": "pipe_service.logsink.archive",
                            "msg": "request log archive not written",
                            "request_id": log.request_id,
                            "error": f"{type(exc).__name__}: {exc.strerror or exc}",
                        }
                    )
                )
        return failures

    def prune(self, now: float) -> list[Path]:
        """Delete day folders older than the retention; returns what was deleted."""
        if not self.directory.is_dir():
            return []
        cutoff = (datetime.fromtimestamp(now, UTC) - self._retention).strftime("%Y-%m-%d")
        removed = []
        for folder in sorted(self.directory.iterdir()):
            is_day = folder.is_dir() and re.fullmatch(r"\d{4}-\d{2}-\d{2}", folder.name)
            if is_day and folder.name < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        return removed


def read_archive(path: Path, codec: PayloadCodec) -> str:
    """The plain text of one archive file (lines joined by newlines).

    Raises ``OSError`` for an unreadable file and :class:`ArchiveReadError` for a wrong key
    or a damaged file."""
    try:
        plain = codec.unseal(path.read_bytes())
        if plain.startswith(LEGACY_LZ4_MAGIC):
            return bytes(lz4.frame.decompress(plain)).decode("utf-8")
        record = unpack(plain)
    except ArtifactKeyError:
        raise ArchiveReadError("wrong archive key or damaged file") from None
    except (ArtifactCorruptError, RuntimeError, UnicodeDecodeError):
        raise ArchiveReadError("damaged file: not a request log archive") from None
    lines = record.get("lines") if isinstance(record, dict) else None
    if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
        raise ArchiveReadError("damaged file: not a request log archive")
    return "\n".join(lines)
