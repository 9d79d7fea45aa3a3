"""When to send an upstream request again, and how long to wait first.

The rule: a request is retried only while nothing has reached the user, that
is before OpenRouter's 200 arrived (the client never retries a stream it has
handed out, because the user would see the text twice). Within that window:

* 429 is retried after ``Retry-After`` when given, unless it exceeds
  ``max_retry_after_s``: then waiting would look like a hang, so the error is
  surfaced at once and the user is told when to try again;
* 5xx (500, 502, 503, 524, 529, ...) is retried with exponential backoff (or
  after its ``Retry-After``), unless OpenRouter says ``retryable: false``;
* connect errors, connect timeouts and pool timeouts are retried (the request
  never left);
* 400, 401, 402, 403, 404, 408, 413 and read timeouts are never retried: they
  would fail again, or the request may already be running (and billed).

Synopsis::

    policy = RetryPolicy(max_attempts=3, base_backoff_s=0.5, jitter=0.0)
    delay = policy.delay_before_retry(err, attempt=1, rng=random.Random(0))
    if delay is None:
        raise err
    await trio.sleep(delay)
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pipe_service.openrouter.errors import UpstreamError

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and backoff for one upstream call (pure; the caller sleeps).

    ``max_attempts`` counts the first try: 3 means up to two retries.
    The backoff before retry *n* (1-based) is
    ``min(max_backoff_s, base_backoff_s * 2 ** (n - 1))`` scaled by a factor
    drawn uniformly from ``[1 - jitter, 1]``, so ``jitter=0`` is exact.
    """

    max_attempts: int = 3
    base_backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    jitter: float = 0.2
    max_retry_after_s: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be >= 1")
        if self.base_backoff_s < 0 or self.max_backoff_s < self.base_backoff_s:
            raise ValueError("RetryPolicy needs 0 <= base_backoff_s <= max_backoff_s")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("RetryPolicy.jitter must be within [0, 1]")
        if self.max_retry_after_s < 0:
            raise ValueError("RetryPolicy.max_retry_after_s must be >= 0")

    def backoff_s(self, attempt: int, rng: random.Random) -> float:
        """Backoff after failed attempt number ``attempt`` (1-based)."""
        exponent = min(max(attempt - 1, 0), 62)  # bounded so 2**n cannot overflow a float
        ceiling = min(self.max_backoff_s, self.base_backoff_s * 2.0**exponent)
        if self.jitter == 0.0:
            return ceiling
        return ceiling * (1.0 - self.jitter * rng.random())

    def delay_before_retry(
        self, err: UpstreamError, *, attempt: int, rng: random.Random
    ) -> float | None:
        """Seconds to wait before retrying after ``err`` on attempt ``attempt``.

        None means: do not retry, surface ``err`` now. The caller must only ask
        while no byte of the answer has reached the user.
        """
        if attempt >= self.max_attempts or not err.retryable:
            return None
        if err.retry_after_s is not None:
            if err.retry_after_s > self.max_retry_after_s:
                return None
            return err.retry_after_s
        return self.backoff_s(attempt, rng)
