"""Bounded in-memory log of the requests ``POST /responses`` received (``GET /_sim/requests``).

Tests use it to check what the service actually sent upstream. It is off unless configured
(prompts are private), and bounded twice: by record count and by the bytes of the bodies it
keeps. A body larger than ``max_body_bytes`` is recorded by its size only (``body`` null), and
the oldest records go first once either bound is reached. The Authorization header is kept
only as ``Bearer <redacted>`` so keys never appear in the log.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

REDACTED_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


@dataclass(frozen=True, slots=True)
class RequestRecord:
    model: str | None
    body: Any
    headers: dict[str, str]
    received_at: float
    body_bytes: int = 0
    """Size of the raw body; counted against the log's byte bound when ``body`` is kept."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def redact_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    redacted: dict[str, str] = {}
    for name, value in headers:
        if name.lower() in REDACTED_HEADERS:
            scheme = value.split(" ", 1)[0] if " " in value else ""
            value = f"{scheme} <redacted>".strip()
        redacted[name.lower()] = value
    return redacted


class RequestLog:
    """The last records, oldest first, within ``size`` records and ``max_total_bytes`` of bodies.

    ``size`` 0 turns the log off: nothing is recorded (:attr:`enabled` is False).
    """

    def __init__(self, size: int, *, max_body_bytes: int, max_total_bytes: int) -> None:
        self._size = size
        self.max_body_bytes = max_body_bytes
        self._max_total_bytes = max_total_bytes
        self._records: deque[RequestRecord] = deque()
        self._kept_bytes = 0

    @property
    def enabled(self) -> bool:
        return self._size > 0

    def keeps_body(self, size: int) -> bool:
        return self.enabled and size <= min(self.max_body_bytes, self._max_total_bytes)

    def append(self, record: RequestRecord) -> None:
        if not self.enabled:
            return
        self._records.append(record)
        self._kept_bytes += _kept(record)
        while len(self._records) > self._size or self._kept_bytes > self._max_total_bytes:
            self._kept_bytes -= _kept(self._records.popleft())

    def snapshot(self) -> list[RequestRecord]:
        return list(self._records)

    def clear(self) -> None:
        self._records.clear()
        self._kept_bytes = 0


def _kept(record: RequestRecord) -> int:
    return record.body_bytes if record.body is not None else 0
