"""The per-user request breaker on virtual time: failures in a window open it, it tells the
user to slow down with an exact retry hint, and one trial after the window closes it again."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from pipe_service.admission.user_breaker import UserRequestBreaker, UserThrottledError


async def test_failures_within_the_window_open_the_breaker_with_an_exact_retry_hint(
    autojump_clock: trio.testing.MockClock,
) -> None:
    breaker = UserRequestBreaker(failures=3, window_s=60)
    start = trio.current_time()
    assert not breaker.record("u1", ok=False, now=trio.current_time())
    await trio.sleep(10)
    assert not breaker.record("u1", ok=False, now=trio.current_time())
    await trio.sleep(10)
    assert breaker.record("u1", ok=False, now=trio.current_time())  # the third trips it
    await trio.sleep(15)
    with pytest.raises(UserThrottledError) as refused:
        breaker.check("u1", trio.current_time())
    assert refused.value.retry_after_s == 45
    assert trio.current_time() - start == 35
    assert breaker.statistics(trio.current_time()).rejections == 1
    assert breaker.statistics(trio.current_time()).trips == 1


async def test_failures_spread_wider_than_the_window_never_open_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    breaker = UserRequestBreaker(failures=3, window_s=60)
    for _ in range(10):
        assert not breaker.record("u1", ok=False, now=trio.current_time())
        await trio.sleep(31)
    breaker.check("u1", trio.current_time())


async def test_after_the_window_a_success_closes_it_and_a_failure_reopens_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    breaker = UserRequestBreaker(failures=2, window_s=30)
    breaker.record("u1", ok=False, now=trio.current_time())
    breaker.record("u1", ok=False, now=trio.current_time())
    await trio.sleep(30)
    breaker.check("u1", trio.current_time())  # half-open: a trial goes through
    breaker.record("u1", ok=False, now=trio.current_time())
    with pytest.raises(UserThrottledError) as refused:
        breaker.check("u1", trio.current_time())
    assert refused.value.retry_after_s == 30
    await trio.sleep(30)
    breaker.check("u1", trio.current_time())
    breaker.record("u1", ok=True, now=trio.current_time())
    breaker.check("u1", trio.current_time())
    assert breaker.statistics(trio.current_time()).tracked == 0


async def test_one_users_failures_never_slow_down_another_user() -> None:
    breaker = UserRequestBreaker(failures=1, window_s=60)
    breaker.record("u1", ok=False, now=trio.current_time())
    with pytest.raises(UserThrottledError):
        breaker.check("u1", trio.current_time())
    breaker.check("u2", trio.current_time())


async def test_requests_without_a_user_and_a_zero_threshold_are_never_throttled() -> None:
    anonymous = UserRequestBreaker(failures=1, window_s=60)
    assert not anonymous.record(None, ok=False, now=0.0)
    anonymous.check(None, 0.0)
    off = UserRequestBreaker(failures=0, window_s=60)
    assert not off.record("u1", ok=False, now=0.0)
    off.check("u1", 0.0)
