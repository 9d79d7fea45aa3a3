"""ULIDs: 26-character, time-ordered, Crockford base32 ids for stored artifacts.

48 bits of milliseconds since the epoch, then 80 random bits. Ids made by one generator within
the same millisecond increment the random part, so they sort in creation order (the replay
order of one turn's artifacts does not depend on it: rows carry their position, see
``pipe_service.storage.schema``).

Synopsis::

    ids = UlidGenerator()
    artifact_id = ids.new()          # '01JDX0Q9J8Z5M8K3V3S9E8Y7QF'
    is_ulid(artifact_id)             # True
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ULID_LENGTH = 26
ULID_PATTERN = r"[0-7][0-9A-HJKMNP-TV-Z]{25}"
_ULID_RE = re.compile(f"^{ULID_PATTERN}$")
_RANDOM_BITS = 80


def is_ulid(text: str) -> bool:
    return bool(_ULID_RE.match(text))


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


class UlidGenerator:
    """Monotonic ULIDs (one generator per process is enough; it is not thread-safe)."""

    def __init__(self, clock_ms: Callable[[], int] | None = None) -> None:
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._last_ms = -1
        self._last_random = 0

    def new(self) -> str:
        now = self._clock_ms()
        if now <= self._last_ms:
            now = self._last_ms
            random_part = self._last_random + 1
            if random_part >> _RANDOM_BITS:  # 2^80 ids in one millisecond: borrow the next one
                now += 1
                random_part = secrets.randbits(_RANDOM_BITS)
        else:
            random_part = secrets.randbits(_RANDOM_BITS)
        self._last_ms, self._last_random = now, random_part
        return _encode((now << _RANDOM_BITS) | random_part, ULID_LENGTH)
