"""Fail fast on an API key that OpenRouter keeps rejecting.

A revoked or mistyped key makes every chat pay a round trip for the same 401,
and hammers OpenRouter. After ``threshold`` consecutive 401s for one key
within ``window_s``, the latch *closes* for that key: requests fail at once
with the last 401 (under a fresh error id) for ``latch_s`` seconds. Then one
probe request is let through: a 401 closes the latch again, anything else
clears it. A probe that never reports back (cancelled) frees the probe slot
after another ``latch_s``.

Keys are tracked by a salted BLAKE2b digest, never by value, and the table is
bounded (the least recently touched entry goes first). Time is
``trio.current_time()``, so tests run on the virtual clock.

Synopsis::

    latch = AuthLatch(threshold=3, window_s=60, latch_s=30)
    if (cached := latch.check(key)) is not None:
        raise cached
    ...  # send; then latch.record_unauthorized(key, err) or latch.record_success(key)
"""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict
from dataclasses import dataclass

import trio

from pipe_service.openrouter.errors import UpstreamError

__all__ = ["MAX_TRACKED_KEYS", "AuthLatch", "AuthLatchStatistics"]

MAX_TRACKED_KEYS = 10_000
"""Bound on remembered keys; a flood of distinct bad keys cannot grow memory."""


@dataclass
class _KeyState:
    failures: int = 0
    first_failure_at: float = 0.0
    latched_until: float | None = None
    probe_started_at: float | None = None
    last_error: UpstreamError | None = None


@dataclass(frozen=True)
class AuthLatchStatistics:
    """Counts for ``/status``."""

    tracked_keys: int
    latched_keys: int
    fast_failures: int


class AuthLatch:
    """Per-key consecutive-401 latch (see the module docstring)."""

    def __init__(self, *, threshold: int, window_s: float, latch_s: float) -> None:
        if threshold < 1 or window_s <= 0 or latch_s <= 0:
            raise ValueError("AuthLatch needs threshold >= 1, window_s > 0 and latch_s > 0")
        self._threshold = threshold
        self._window_s = window_s
        self._latch_s = latch_s
        # A per-process salt: digests in memory cannot be matched against key lists.
        self._salt = secrets.token_bytes(16)
        self._states: OrderedDict[str, _KeyState] = OrderedDict()
        self._fast_failures = 0

    def _digest(self, api_key: str) -> str:
        return hashlib.blake2b(api_key.encode(), key=self._salt, digest_size=16).hexdigest()

    def check(self, api_key: str) -> UpstreamError | None:
        """Return the cached 401 to raise now, or None if the request may go.

        While latched returns the error; when the latch expires the first
        caller becomes the probe (gets None) and the others keep failing fast.
        """
        state = self._states.get(self._digest(api_key))
        if state is None or state.latched_until is None or state.last_error is None:
            return None
        now = trio.current_time()
        probe_free = state.probe_started_at is None or (
            now - state.probe_started_at >= self._latch_s
        )
        if now >= state.latched_until and probe_free:
            state.probe_started_at = now
            return None
        self._fast_failures += 1
        cached = state.last_error
        return UpstreamError(
            cached.kind,
            cached.message,
            status=cached.status,
            code=cached.code,
            local=True,
            detail="repeated authentication failures: requests with this key are paused",
        )

    def record_unauthorized(self, api_key: str, err: UpstreamError) -> None:
        """Count a 401 for ``api_key``; close the latch at the threshold."""
        digest = self._digest(api_key)
        now = trio.current_time()
        state = self._states.get(digest)
        if state is None:
            state = self._states[digest] = _KeyState()
            while len(self._states) > MAX_TRACKED_KEYS:
                self._states.popitem(last=False)
        self._states.move_to_end(digest)
        if state.failures == 0 or now - state.first_failure_at > self._window_s:
            state.failures = 0
            state.first_failure_at = now
        state.failures += 1
        state.last_error = err
        if state.latched_until is not None or state.failures >= self._threshold:
            # A failed probe (or the threshold) closes the latch for another period.
            state.latched_until = now + self._latch_s
            state.probe_started_at = None

    def record_success(self, api_key: str) -> None:
        """Any non-401 answer proves the key works: forget its failures."""
        self._states.pop(self._digest(api_key), None)

    def statistics(self) -> AuthLatchStatistics:
        now = trio.current_time()
        latched = sum(
            1
            for state in self._states.values()
            if state.latched_until is not None and state.latched_until > now
        )
        return AuthLatchStatistics(
            tracked_keys=len(self._states),
            latched_keys=latched,
            fast_failures=self._fast_failures,
        )
