"""The sliding-window breaker state machine (time is a parameter)."""

from __future__ import annotations

from pipe_service.tools.breaker import BreakerBoard, BreakerState, SlidingWindowBreaker


def test_failures_within_the_window_open_the_breaker() -> None:
    breaker = SlidingWindowBreaker(failures=3, window_s=60)
    for now in (0, 10, 20):
        breaker.record_failure(now)
    assert breaker.state(20) is BreakerState.OPEN
    assert not breaker.allows(79)


def test_failures_that_left_the_window_do_not_count() -> None:
    breaker = SlidingWindowBreaker(failures=2, window_s=60)
    breaker.record_failure(0)
    breaker.record_failure(61)
    assert breaker.state(61) is BreakerState.CLOSED


def test_open_breaker_lets_one_trial_through_after_the_window() -> None:
    breaker = SlidingWindowBreaker(failures=1, window_s=60)
    breaker.record_failure(0)
    assert breaker.state(60) is BreakerState.HALF_OPEN
    breaker.begin(60)
    assert not breaker.allows(60)


def test_failed_trial_opens_the_breaker_for_another_window() -> None:
    breaker = SlidingWindowBreaker(failures=1, window_s=60)
    breaker.record_failure(0)
    breaker.begin(60)
    breaker.record_failure(61)
    assert breaker.state(120) is BreakerState.OPEN
    assert breaker.state(121) is BreakerState.HALF_OPEN


def test_successful_trial_closes_the_breaker() -> None:
    breaker = SlidingWindowBreaker(failures=1, window_s=60)
    breaker.record_failure(0)
    breaker.begin(60)
    breaker.record_success(61)
    assert breaker.state(61) is BreakerState.CLOSED


def test_cancelled_trial_lets_another_trial_through() -> None:
    breaker = SlidingWindowBreaker(failures=1, window_s=60)
    breaker.record_failure(0)
    breaker.begin(60)
    breaker.abandon()
    assert breaker.allows(60)


def test_board_forgets_idle_breakers() -> None:
    board = BreakerBoard(tool_failures=5, user_failures=5, window_s=60)
    ticket = board.acquire("u", "search", 0)
    assert ticket is not None
    board.settle(ticket, ok=False, now=0)
    assert board.prune(30) == 0
    assert board.prune(61) == 2
    assert board.counts(61).tracked == 0
