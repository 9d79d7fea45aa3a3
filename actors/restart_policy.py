"""How often a crashed actor may be restarted, and how long to wait before each restart.

The restart intensity (OTP's idea) is a sliding window: at most ``max_restarts`` restarts within
any ``window_s`` seconds. The crash that would need one more is escalated as
:class:`RestartIntensityExceeded`, and the supervisor shuts the service down.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


class RestartIntensityExceeded(Exception):  # noqa: N818 - public name others use
    """An actor crashed again after ``restarts`` restarts within ``window_s`` seconds.

    ``__cause__`` is the crash that tipped it over.
    """

    def __init__(self, actor_name: str, restarts: int, window_s: float) -> None:
        super().__init__(
            f"actor {actor_name!r} crashed again after {restarts} restarts "
            f"within {window_s:g} s; giving up"
        )
        self.actor_name = actor_name
        self.restarts = restarts
        self.window_s = window_s


@dataclass(frozen=True)
class RestartPolicy:
    """One-for-one restart settings for one actor.

    Synopsis::

        RestartPolicy(max_restarts=5, window_s=60.0)   # 0.1 s, 0.2 s, 0.4 s ... capped at 5 s

    The n-th restart within the current window waits
    ``min(backoff_max_s, backoff_initial_s * backoff_factor ** (n - 1))``; once older crashes
    leave the window the backoff shrinks again.
    """

    max_restarts: int = 5
    window_s: float = 60.0
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 5.0
    backoff_factor: float = 2.0

    def __post_init__(self) -> None:
        if self.max_restarts < 0:
            raise ValueError(f"RestartPolicy.max_restarts must be >= 0, got {self.max_restarts}")
        if not (0 < self.window_s < math.inf):
            raise ValueError(f"RestartPolicy.window_s must be > 0 and finite, got {self.window_s}")
        if not (0 <= self.backoff_initial_s <= self.backoff_max_s < math.inf):
            raise ValueError(
                "RestartPolicy needs 0 <= backoff_initial_s <= backoff_max_s (finite), got "
                f"{self.backoff_initial_s} and {self.backoff_max_s}"
            )
        if not (1 <= self.backoff_factor < math.inf):
            raise ValueError(
                f"RestartPolicy.backoff_factor must be >= 1 and finite, got {self.backoff_factor}"
            )

    def backoff_s(self, restart_number: int) -> float:
        """The wait before restart number ``restart_number`` (1-based) within the window."""
        try:
            delay = self.backoff_initial_s * self.backoff_factor ** (restart_number - 1)
        except OverflowError:
            return self.backoff_max_s
        return min(self.backoff_max_s, delay)


class RestartWindow:
    """The restart times of one actor that still count against its policy."""

    __slots__ = ("_policy", "_times")

    def __init__(self, policy: RestartPolicy) -> None:
        self._policy = policy
        self._times: deque[float] = deque()

    def admit(self, now: float) -> int | None:
        """Record a restart at ``now`` and return its number within the window (1-based), or
        return ``None`` (recording nothing) when the policy allows no more restarts."""
        horizon = now - self._policy.window_s
        while self._times and self._times[0] <= horizon:
            self._times.popleft()
        if len(self._times) >= self._policy.max_restarts:
            return None
        self._times.append(now)
        return len(self._times)

    def __len__(self) -> int:
        return len(self._times)
