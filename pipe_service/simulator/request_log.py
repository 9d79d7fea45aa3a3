"""Bounded log of the requests ``POST /responses`` and ``POST /chat/completions`` received.

Served at ``GET /_sim/requests``; ``path`` says which endpoint each record came to.

Tests use it to check what the service actually sent upstream. The Authorization header is kept
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
    path: str = "/api/v1/responses"

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
    """The last ``size`` records, oldest first."""

    def __init__(self, size: int) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=size)

    def append(self, record: RequestRecord) -> None:
        self._records.append(record)

    def snapshot(self) -> list[RequestRecord]:
        return list(self._records)

    def clear(self) -> None:
        self._records.clear()
