"""A per-user request breaker: a user whose requests keep failing is told to slow down.

A user (Open WebUI user id) with ``failures`` failed requests within ``window_s`` seconds has
their new requests refused at once for ``window_s`` seconds (a protocol ``error`` frame with
code ``slow_down``, or 429 JSON on the OpenAI API), instead of sending OpenRouter the same
failing request again and again. After that one request goes through as a trial; its success
closes the breaker, its failure opens it again. Requests without a user id are never throttled
(they share no identity to blame). ``failures = 0`` turns the breaker off.

Synopsis::

    breaker = UserRequestBreaker(failures=20, window_s=60)
    breaker.check("user-1", trio.current_time())      # raises UserThrottledError when open
    tripped = breaker.record("user-1", ok=False, now=trio.current_time())
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipe_service.tools.breaker import BreakerState, SlidingWindowBreaker


class UserThrottledError(Exception):
    """The user's request breaker is open; ``retry_after_s`` says when to try again."""

    def __init__(self, *, retry_after_s: int) -> None:
        super().__init__(
            f"too many failed requests from this user; slow down and retry in {retry_after_s} s"
        )
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class UserBreakerStatistics:
    failures: int
    window_s: float
    open: int
    tracked: int
    trips: int
    rejections: int


class UserRequestBreaker:
    """Every user's request breaker; thresholds can change at run time (:meth:`configure`)."""

    def __init__(self, *, failures: int, window_s: float) -> None:
        self._failures = failures
        self._window_s = window_s
        self._users: dict[str, SlidingWindowBreaker] = {}
        self.trips = 0
        self.rejections = 0

    def configure(self, *, failures: int, window_s: float) -> None:
        """New thresholds; breakers already tracked are forgotten (a fresh start for all)."""
        if (failures, window_s) != (self._failures, self._window_s):
            self._failures = failures
            self._window_s = window_s
            self._users.clear()

    def check(self, user_id: str | None, now: float) -> None:
        """Raise :class:`UserThrottledError` when the user's breaker refuses a request now."""
        if not user_id or self._failures == 0:
            return
        breaker = self._users.get(user_id)
        if breaker is None or breaker.state(now) is not BreakerState.OPEN:
            return
        self.rejections += 1
        raise UserThrottledError(retry_after_s=max(1, math.ceil(breaker.reopens_in(now))))

    def record(self, user_id: str | None, *, ok: bool, now: float) -> bool:
        """Record a request's verdict; True when this failure tripped the user's breaker."""
        if not user_id or self._failures == 0:
            return False
        breaker = self._users.get(user_id)
        if ok:
            if breaker is not None:
                breaker.record_success(now)
                if breaker.idle(now):
                    del self._users[user_id]
            return False
        if breaker is None:
            breaker = self._users[user_id] = SlidingWindowBreaker(
                failures=self._failures, window_s=self._window_s
            )
        tripped = breaker.record_failure(now)
        if tripped:
            self.trips += 1
        self._prune(now)
        return tripped

    def statistics(self, now: float) -> UserBreakerStatistics:
        return UserBreakerStatistics(
            failures=self._failures,
            window_s=self._window_s,
            open=sum(b.state(now) is BreakerState.OPEN for b in self._users.values()),
            tracked=len(self._users),
            trips=self.trips,
            rejections=self.rejections,
        )

    def _prune(self, now: float) -> None:
        # Bound memory: forget users with nothing left in their window.
        if len(self._users) > 1024:
            for user in [u for u, b in self._users.items() if b.idle(now)]:
                del self._users[user]
