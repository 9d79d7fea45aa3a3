"""RetryPolicy: which errors are retried, and the exact backoff schedule."""

from __future__ import annotations

import random
from typing import Any

import pytest

from pipe_service.openrouter.errors import UpstreamError, UpstreamErrorKind, classify_http_error
from pipe_service.openrouter.retry import RetryPolicy

K = UpstreamErrorKind
RNG = random.Random(0)


class FixedRandom(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


def test_backoff_doubles_up_to_the_ceiling_without_jitter() -> None:
    policy = RetryPolicy(base_backoff_s=0.5, max_backoff_s=3.0, jitter=0.0)
    assert [policy.backoff_s(n, RNG) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_jitter_scales_backoff_by_the_injected_random() -> None:
    policy = RetryPolicy(base_backoff_s=1.0, max_backoff_s=8.0, jitter=0.5)
    assert policy.backoff_s(3, FixedRandom(0.5)) == 4.0 * (1 - 0.25)


def test_jitter_is_deterministic_for_a_seeded_random() -> None:
    policy = RetryPolicy(jitter=0.3)
    first = [policy.backoff_s(n, random.Random(42)) for n in range(1, 4)]
    second = [policy.backoff_s(n, random.Random(42)) for n in range(1, 4)]
    assert first == second


def test_huge_attempt_numbers_do_not_overflow() -> None:
    assert RetryPolicy(max_backoff_s=8.0, jitter=0.0).backoff_s(10_000, RNG) == 8.0


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 408, 413, 422])
def test_client_errors_are_never_retried(status: int) -> None:
    err = classify_http_error(status, {}, b"{}")
    assert RetryPolicy().delay_before_retry(err, attempt=1, rng=RNG) is None


@pytest.mark.parametrize("status", [500, 502, 503, 524, 529])
def test_server_errors_get_backoff(status: int) -> None:
    err = classify_http_error(status, {}, b"{}")
    policy = RetryPolicy(base_backoff_s=0.5, jitter=0.0)
    assert policy.delay_before_retry(err, attempt=2, rng=RNG) == 1.0


def test_rate_limit_waits_retry_after() -> None:
    err = classify_http_error(429, {"Retry-After": "12"}, b"{}")
    assert RetryPolicy(max_retry_after_s=30).delay_before_retry(err, attempt=1, rng=RNG) == 12.0


def test_retry_after_above_the_cap_is_surfaced() -> None:
    err = classify_http_error(429, {"Retry-After": "31"}, b"{}")
    assert RetryPolicy(max_retry_after_s=30).delay_before_retry(err, attempt=1, rng=RNG) is None


def test_rate_limit_without_retry_after_uses_backoff() -> None:
    err = classify_http_error(429, {}, b"{}")
    policy = RetryPolicy(base_backoff_s=2.0, max_backoff_s=10.0, jitter=0.0)
    assert policy.delay_before_retry(err, attempt=1, rng=RNG) == 2.0


def test_attempts_are_exhausted_at_max_attempts() -> None:
    err = classify_http_error(503, {}, b"{}")
    policy = RetryPolicy(max_attempts=3)
    assert policy.delay_before_retry(err, attempt=3, rng=RNG) is None


def test_connect_errors_are_retried_but_read_timeouts_are_not() -> None:
    policy = RetryPolicy(jitter=0.0)
    connect = UpstreamError(K.NETWORK, "refused", before_send=True)
    read = UpstreamError(K.TIMEOUT, "slow")
    assert policy.delay_before_retry(connect, attempt=1, rng=RNG) == 0.5
    assert policy.delay_before_retry(read, attempt=1, rng=RNG) is None


@pytest.mark.parametrize(
    "fields",
    [
        {"max_attempts": 0},
        {"jitter": 1.5},
        {"base_backoff_s": 5.0, "max_backoff_s": 1.0},
        {"max_retry_after_s": -1.0},
    ],
)
def test_invalid_policies_are_rejected(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="RetryPolicy"):
        RetryPolicy(**fields)
