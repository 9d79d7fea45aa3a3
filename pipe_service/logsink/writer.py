"""Where the sink writes: a text stream (stderr by default), one batch per call."""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import Protocol, TextIO


class LogWriter(Protocol):
    """Writes a batch of formatted lines; called from a worker thread, one call at a time."""

    def write_lines(self, lines: Sequence[str]) -> None: ...


class StreamLogWriter:
    """Lines to a text stream, flushed per batch (journald and docker read stderr)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()  # the fallback path may write from another thread

    def write_lines(self, lines: Sequence[str]) -> None:
        stream = self._stream if self._stream is not None else sys.stderr
        with self._lock:
            stream.write("".join(f"{line}\n" for line in lines))
            stream.flush()
