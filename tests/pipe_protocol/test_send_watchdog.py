"""The send watchdog on virtual time: a send blocked for ``stall_s`` is reported, exactly."""

from __future__ import annotations

import trio
import trio.testing

from pipe_service.front.pipe_transport import SendWatchdog


async def _send_for(watchdog: SendWatchdog, seconds: float) -> None:
    with watchdog.sending():
        await trio.sleep(seconds)


async def test_a_send_blocked_for_stall_s_is_reported_at_exactly_stall_s(
    autojump_clock: trio.testing.MockClock,
) -> None:
    watchdog = SendWatchdog(5.0)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_send_for, watchdog, 100.0)
        await watchdog.wait_stalled()
        assert trio.current_time() == 5.0
        nursery.cancel_scope.cancel()


async def test_quick_sends_never_count_as_a_stall(autojump_clock: trio.testing.MockClock) -> None:
    watchdog = SendWatchdog(5.0)
    stalled_at: list[float] = []

    async def watch() -> None:
        await watchdog.wait_stalled()
        stalled_at.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch)
        for _ in range(10):
            await _send_for(watchdog, 4.0)  # 40 s of sending, never 5 s on one frame
            await trio.sleep(1.0)
        await _send_for(watchdog, 6.0)  # starts at 50 s: a stall at 55 s
    assert stalled_at == [55.0]
