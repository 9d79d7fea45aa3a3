"""Admission by bytes: a bound on the request bytes the front holds at once.

The slot gate counts requests; it cannot tell a 1 KiB chat from a 30 MiB one, so a handful of
huge requests would each pass it and together exhaust memory. Every entry point that takes a
request body (``/v1/pipe`` request frames, ``/v1/chat/completions`` bodies) reserves its size
here *before* parsing it and keeps the reservation until the request ends; a reservation that
does not fit is refused at once (``busy`` / 503), never queued. One request larger than the
whole budget is refused too: it could never fit.

The budget is plain synchronous bookkeeping (trio runs one task at a time), independent of the
slot gate, and lives for the process.

Synopsis::

    budget = ByteBudget(capacity=256 * 1024 * 1024)
    reservation = budget.try_reserve(len(raw))      # None: over budget, answer busy now
    if reservation is None:
        raise ByteBudgetExceededError(len(raw), budget.statistics(), retry_after_s=2)
    with reservation:
        ...parse and serve the request...
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType


@dataclass(frozen=True, slots=True)
class ByteBudgetStatistics:
    capacity: int
    in_flight: int
    peak: int
    refused: int
    released_total: int
    """Bytes released since start (monotonic): how much request memory was freed."""


class ByteBudgetExceededError(Exception):
    """A request's bytes do not fit in the budget right now (or ever, when over capacity)."""

    def __init__(self, requested: int, stats: ByteBudgetStatistics, *, retry_after_s: int) -> None:
        super().__init__(
            f"server busy: {requested} request bytes do not fit; {stats.in_flight} of "
            f"{stats.capacity} bytes are in flight"
        )
        self.requested = requested
        self.retry_after_s = retry_after_s


class ByteReservation:
    """Bytes held for one request; released once (idempotent) on exit or :meth:`release`."""

    __slots__ = ("_budget", "_size")

    def __init__(self, budget: ByteBudget, size: int) -> None:
        self._budget = budget
        self._size = size

    @property
    def size(self) -> int:
        return self._size

    def try_grow(self, extra: int) -> bool:
        """Hold ``extra`` more bytes (a body read in chunks); False when they do not fit."""
        if not self._budget._take(extra):
            return False
        self._size += extra
        return True

    def release(self) -> None:
        size, self._size = self._size, 0
        self._budget._give_back(size)

    def __enter__(self) -> ByteReservation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


class ByteBudget:
    """``capacity`` bytes shared by every request in flight."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1 byte")
        self._capacity = capacity
        self._in_flight = 0
        self._peak = 0
        self._refused = 0
        self._released_total = 0

    def try_reserve(self, size: int) -> ByteReservation | None:
        """Reserve ``size`` bytes now, or return None (and count a refusal) when they don't fit."""
        if not self._take(size):
            return None
        return ByteReservation(self, size)

    def statistics(self) -> ByteBudgetStatistics:
        return ByteBudgetStatistics(
            capacity=self._capacity,
            in_flight=self._in_flight,
            peak=self._peak,
            refused=self._refused,
            released_total=self._released_total,
        )

    def _take(self, size: int) -> bool:
        if size < 0:
            raise ValueError("a reservation cannot be negative")
        if self._in_flight + size > self._capacity:
            self._refused += 1
            return False
        self._in_flight += size
        self._peak = max(self._peak, self._in_flight)
        return True

    def _give_back(self, size: int) -> None:
        self._in_flight -= size
        self._released_total += size
