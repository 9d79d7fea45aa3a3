"""Sliding-window circuit breakers for tools, per user and per user and tool.

A breaker counts failures within the last ``window_s`` seconds. At ``failures`` it *opens*:
calls are skipped. ``window_s`` after opening it is *half-open*: one trial call goes through;
success closes it, failure opens it for another window. Time is a parameter (the trio clock in
the service), so the state machine is pure.

Synopsis::

    board = BreakerBoard(tool_failures=5, user_failures=20, window_s=60)
    ticket = board.acquire("user-1", "get_weather", now)   # None: skip, a breaker is open
    ...run the call...
    board.settle(ticket, ok=False, now=later)             # or board.release(ticket) if cancelled
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass
from typing import TypeVar

K = TypeVar("K")


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class SlidingWindowBreaker:
    """One breaker: ``failures`` within ``window_s`` open it for ``window_s``."""

    def __init__(self, *, failures: int, window_s: float) -> None:
        if failures < 1 or window_s <= 0:
            raise ValueError("a breaker needs failures >= 1 and window_s > 0")
        self._threshold = failures
        self._window_s = window_s
        self._failures: deque[float] = deque()
        self._opened_at: float | None = None
        self._trial_running = False

    def state(self, now: float) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if now < self._opened_at + self._window_s:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def reopens_in(self, now: float) -> float:
        """Seconds until an open breaker turns half-open (0 when not open)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self._window_s - now)

    def allows(self, now: float) -> bool:
        """Whether a call may run now (half-open: only while no trial runs)."""
        state = self.state(now)
        return state is BreakerState.CLOSED or (
            state is BreakerState.HALF_OPEN and not self._trial_running
        )

    def begin(self, now: float) -> None:
        """A call allowed by :meth:`allows` starts; in half-open it is the trial."""
        if self.state(now) is BreakerState.HALF_OPEN:
            self._trial_running = True

    def record_success(self, now: float) -> None:
        if self.state(now) is not BreakerState.CLOSED:
            self._opened_at = None
            self._failures.clear()
        self._trial_running = False

    def record_failure(self, now: float) -> bool:
        """Count a failure; True when this one tripped the breaker (closed -> open)."""
        self._trial_running = False
        if self._opened_at is not None:
            # A failed trial (or a call that started before the breaker opened): open again.
            self._opened_at = now
            return False
        self._failures.append(now)
        self._prune(now)
        if len(self._failures) >= self._threshold:
            self._opened_at = now
            self._failures.clear()
            return True
        return False

    def abandon(self) -> None:
        """A started call ended without a verdict (cancelled); let another trial through."""
        self._trial_running = False

    def idle(self, now: float) -> bool:
        """Closed with no failure in the window: holds nothing worth keeping."""
        self._prune(now)
        return self._opened_at is None and not self._failures and not self._trial_running

    def _prune(self, now: float) -> None:
        while self._failures and self._failures[0] <= now - self._window_s:
            self._failures.popleft()


@dataclass(frozen=True, slots=True)
class BreakerTicket:
    """The breakers one running call answers to."""

    user_key: str
    tool_key: tuple[str, str]


@dataclass(frozen=True, slots=True)
class BreakerCounts:
    open: int
    half_open: int
    tracked: int


class BreakerBoard:
    """Every tool breaker of the process, keyed by user and by (user, tool)."""

    def __init__(self, *, tool_failures: int, user_failures: int, window_s: float) -> None:
        self._tool_failures = tool_failures
        self._user_failures = user_failures
        self._window_s = window_s
        self._users: dict[str, SlidingWindowBreaker] = {}
        self._tools: dict[tuple[str, str], SlidingWindowBreaker] = {}
        self.trips = 0  # closed -> open transitions since start (a metric)

    def set_thresholds(self, *, tool_failures: int, user_failures: int, window_s: float) -> None:
        """New limits for breakers created from now on; tracked ones keep theirs until idle."""
        self._tool_failures = tool_failures
        self._user_failures = user_failures
        self._window_s = window_s

    def acquire(self, user_id: str | None, tool: str, now: float) -> BreakerTicket | None:
        """A ticket to run ``tool`` for the user, or ``None`` when a breaker says skip."""
        user_key = user_id or ""
        tool_key = (user_key, tool)
        user = self._users.get(user_key)
        per_tool = self._tools.get(tool_key)
        if (user is not None and not user.allows(now)) or (
            per_tool is not None and not per_tool.allows(now)
        ):
            return None
        user = user or self._users.setdefault(
            user_key, SlidingWindowBreaker(failures=self._user_failures, window_s=self._window_s)
        )
        per_tool = per_tool or self._tools.setdefault(
            tool_key, SlidingWindowBreaker(failures=self._tool_failures, window_s=self._window_s)
        )
        user.begin(now)
        per_tool.begin(now)
        return BreakerTicket(user_key, tool_key)

    def user_blocked(self, user_id: str | None, now: float) -> bool:
        """True when the user's own breaker (not a single tool's) is open."""
        user = self._users.get(user_id or "")
        return user is not None and not user.allows(now)

    def settle(self, ticket: BreakerTicket, *, ok: bool, now: float) -> None:
        """Record the call's verdict on both breakers."""
        for breaker in self._pair(ticket):
            if ok:
                breaker.record_success(now)
            elif breaker.record_failure(now):
                self.trips += 1

    def release(self, ticket: BreakerTicket) -> None:
        """The call ended without a verdict (cancelled, or not a tool failure)."""
        for breaker in self._pair(ticket):
            breaker.abandon()

    def prune(self, now: float) -> int:
        """Forget idle breakers; returns how many were dropped (bounds memory)."""
        return _prune_table(self._users, now) + _prune_table(self._tools, now)

    def counts(self, now: float) -> BreakerCounts:
        breakers = [*self._users.values(), *self._tools.values()]
        states = [breaker.state(now) for breaker in breakers]
        return BreakerCounts(
            open=states.count(BreakerState.OPEN),
            half_open=states.count(BreakerState.HALF_OPEN),
            tracked=len(breakers),
        )

    def _pair(self, ticket: BreakerTicket) -> list[SlidingWindowBreaker]:
        pair = [self._users.get(ticket.user_key), self._tools.get(ticket.tool_key)]
        return [breaker for breaker in pair if breaker is not None]


def _prune_table(table: dict[K, SlidingWindowBreaker], now: float) -> int:
    idle = [key for key, breaker in table.items() if breaker.idle(now)]
    for key in idle:
        del table[key]
    return len(idle)
