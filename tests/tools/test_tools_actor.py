"""The tools actor: hands out its runner and prunes idle breakers on a fixed schedule."""

from __future__ import annotations

from functools import partial

import trio
import trio.testing

from pipe_service.tools import actor as tools_actor
from pipe_service.tools.runner import ToolRunner
from pipe_service.tools.settings import ToolSettings


async def test_started_returns_the_runner(nursery: trio.Nursery) -> None:
    runner = ToolRunner(ToolSettings())
    assert await nursery.start(tools_actor.run, runner) is runner
    nursery.cancel_scope.cancel()


async def test_idle_breakers_are_pruned_on_schedule(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    runner = ToolRunner(ToolSettings(breaker_window_s=10))
    ticket = runner.breakers.acquire("u", "search", trio.current_time())
    assert ticket is not None
    runner.breakers.settle(ticket, ok=False, now=trio.current_time())
    await nursery.start(partial(tools_actor.run, runner, prune_interval_s=30))
    await trio.sleep(29)
    assert runner.breakers.counts(trio.current_time()).tracked == 2
    await trio.sleep(2)
    assert runner.breakers.counts(trio.current_time()).tracked == 0
    nursery.cancel_scope.cancel()
