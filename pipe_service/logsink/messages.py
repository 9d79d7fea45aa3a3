"""What travels through the log sink's inbox."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LogLine:
    """One formatted record, ready to write."""

    text: str


@dataclass(frozen=True, slots=True)
class RequestLog:
    """A finished request's log lines, to archive (only when archives are configured)."""

    request_id: str
    lines: tuple[str, ...]
    finished_at: float  # wall-clock seconds (names the day folder)


SinkMessage = LogLine | RequestLog
