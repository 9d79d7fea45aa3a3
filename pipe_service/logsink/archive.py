"""Encrypted per-request log archives, for incident response.

Each finished request's log lines (its ring buffer) become one file
``<archive_dir>/<YYYY-MM-DD>/<request_id>.log.lz4.fernet``: the lines, LZ4-compressed, then
Fernet-encrypted (AES-128-CBC + HMAC-SHA256, with a timestamp). Day folders older than the
retention are deleted by the sink actor, at start and then hourly (``actor.apply_retention``).
``pipe-service log-archive FILE`` decrypts one for reading.

The codec sits behind :class:`ArchiveCodec` so it can be swapped for the persistence layer's
codec (issue 12 builds one in ``pipe_service/storage/``) without touching the sink.

Synopsis::

    archive = RequestLogArchive(Path("var/log-archives"), LZ4FernetCodec(key), retention_days=14)
    archive.write_all([RequestLog("req_1", ("line 1", "line 2"), time.time())])
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import lz4.frame
from cryptography.fernet import Fernet

from pipe_service.logsink.messages import RequestLog

SUFFIX = ".log.lz4.fernet"
_SAFE_ID = re.compile(r"[^A-Za-z0-9_.-]")


class ArchiveCodec(Protocol):
    def encode(self, plain: bytes) -> bytes: ...

    def decode(self, sealed: bytes) -> bytes: ...


class LZ4FernetCodec:
    """LZ4 frame compression, then Fernet encryption."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def encode(self, plain: bytes) -> bytes:
        return self._fernet.encrypt(lz4.frame.compress(plain))

    def decode(self, sealed: bytes) -> bytes:
        """Raises ``cryptography.fernet.InvalidToken`` for a wrong key or a damaged file."""
        return bytes(lz4.frame.decompress(self._fernet.decrypt(sealed)))


class RequestLogArchive:
    """Writes request archives and applies the retention; used from the sink's worker thread."""

    def __init__(self, directory: Path, codec: ArchiveCodec, *, retention_days: int) -> None:
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
                path.write_bytes(self._codec.encode("\n".join(log.lines).encode()))
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


def read_archive(path: Path, codec: ArchiveCodec) -> str:
    """The plain text of one archive file."""
    return codec.decode(path.read_bytes()).decode()
