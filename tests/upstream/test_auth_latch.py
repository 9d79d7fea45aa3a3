"""AuthLatch: consecutive 401s per key close a latch; one probe after latch_s."""

from __future__ import annotations

import trio

from pipe_service.openrouter.auth_latch import AuthLatch
from pipe_service.openrouter.errors import UpstreamError, UpstreamErrorKind

KEY = "sk-or-v1-bad"
UNAUTHORIZED = UpstreamError(
    UpstreamErrorKind.UNAUTHORIZED, "User not found.", status=401, code=401
)


def _latch() -> AuthLatch:
    return AuthLatch(threshold=3, window_s=60.0, latch_s=30.0)


def _fail(latch: AuthLatch, times: int, key: str = KEY) -> None:
    for _ in range(times):
        latch.record_unauthorized(key, UNAUTHORIZED)


async def test_below_threshold_requests_still_go(autojump_clock: trio.testing.MockClock) -> None:
    latch = _latch()
    _fail(latch, 2)
    assert latch.check(KEY) is None


async def test_threshold_latches_with_cached_401(autojump_clock: trio.testing.MockClock) -> None:
    latch = _latch()
    _fail(latch, 3)
    cached = latch.check(KEY)
    assert cached is not None
    assert (cached.kind, cached.status, cached.message) == (
        UpstreamErrorKind.UNAUTHORIZED,
        401,
        "User not found.",
    )
    assert cached.error_id != UNAUTHORIZED.error_id


async def test_latch_is_per_key(autojump_clock: trio.testing.MockClock) -> None:
    latch = _latch()
    _fail(latch, 3)
    assert latch.check("sk-or-v1-other") is None


async def test_failures_outside_the_window_do_not_add_up(
    autojump_clock: trio.testing.MockClock,
) -> None:
    latch = _latch()
    _fail(latch, 2)
    await trio.sleep(61)
    _fail(latch, 1)
    assert latch.check(KEY) is None


async def test_one_probe_after_latch_expires(autojump_clock: trio.testing.MockClock) -> None:
    latch = _latch()
    _fail(latch, 3)
    await trio.sleep(29.9)
    assert latch.check(KEY) is not None
    await trio.sleep(0.1)
    assert latch.check(KEY) is None  # the probe
    assert latch.check(KEY) is not None  # others wait for the probe's verdict


async def test_failed_probe_latches_again(autojump_clock: trio.testing.MockClock) -> None:
    latch = _latch()
    _fail(latch, 3)
    await trio.sleep(30)
    assert latch.check(KEY) is None
    _fail(latch, 1)
    await trio.sleep(29)
    assert latch.check(KEY) is not None
    await trio.sleep(1)
    assert latch.check(KEY) is None


async def test_success_clears_the_latch(autojump_clock: trio.testing.MockClock) -> None:
    latch = _latch()
    _fail(latch, 3)
    await trio.sleep(30)
    assert latch.check(KEY) is None
    latch.record_success(KEY)
    assert latch.check(KEY) is None
    assert latch.check(KEY) is None


async def test_lost_probe_frees_the_slot_after_latch_s(
    autojump_clock: trio.testing.MockClock,
) -> None:
    latch = _latch()
    _fail(latch, 3)
    await trio.sleep(30)
    assert latch.check(KEY) is None  # probe started, never reports back
    await trio.sleep(30)
    assert latch.check(KEY) is None


async def test_statistics_never_hold_the_key(autojump_clock: trio.testing.MockClock) -> None:
    latch = _latch()
    _fail(latch, 3)
    assert latch.check(KEY) is not None
    stats = latch.statistics()
    assert (stats.tracked_keys, stats.latched_keys, stats.fast_failures) == (1, 1, 1)
    assert KEY not in repr(vars(latch))
