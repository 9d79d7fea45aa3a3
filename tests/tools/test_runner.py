"""The tools actor's runner on virtual time: concurrency, timeouts, retries, breakers, batching.

Each test runs one or more rounds through :meth:`ToolRunner.run_batch` with an in-memory
executor and asserts the outcomes and the exact virtual time they took.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
import trio
import trio.testing

from pipe_service.tools.contract import (
    ToolExecutorGoneError,
    ToolInvocation,
    ToolOutcome,
    ToolTransientError,
)
from pipe_service.tools.runner import ToolRunner
from pipe_service.tools.settings import ToolSettings
from tests.tools.fakes import RecordingExecutor, echo, fail, hang, sleeping


def calls(*names: str, arguments: str = "{}") -> list[ToolInvocation]:
    return [ToolInvocation(f"c{n}", name, arguments) for n, name in enumerate(names)]


def runner(**settings: Any) -> ToolRunner:
    return ToolRunner(ToolSettings(**settings))


async def test_calls_of_one_round_run_concurrently(autojump_clock: trio.testing.MockClock) -> None:
    executor = RecordingExecutor(sleeping(5))
    outcomes = await runner().run_batch("r", calls("a", "b", "c"), executor, user_id="u")
    assert [outcome.ok for outcome in outcomes] == [True, True, True]
    assert trio.current_time() == 5


async def test_outcomes_come_back_in_call_order(autojump_clock: trio.testing.MockClock) -> None:
    async def slower_first(invocation: ToolInvocation) -> ToolOutcome:
        await trio.sleep(3 if invocation.call_id == "c0" else 1)
        return await echo(invocation)

    outcomes = await runner().run_batch(
        "r", calls("a", "b"), RecordingExecutor(slower_first), user_id=None
    )
    assert [outcome.call_id for outcome in outcomes] == ["c0", "c1"]


async def test_per_request_limit_bounds_concurrent_calls(
    autojump_clock: trio.testing.MockClock,
) -> None:
    executor = RecordingExecutor(sleeping(1))
    tools = runner(max_concurrent_per_request=2)
    await tools.run_batch("r", calls(*"abcdef"), executor, user_id="u")
    assert trio.current_time() == 3


async def test_global_limit_is_shared_by_requests(autojump_clock: trio.testing.MockClock) -> None:
    executor = RecordingExecutor(sleeping(1))
    tools = runner(max_concurrent_global=2)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(partial(tools.run_batch, "r1", calls("a", "b"), executor, user_id=None))
        nursery.start_soon(partial(tools.run_batch, "r2", calls("c", "d"), executor, user_id=None))
    assert trio.current_time() == 2


async def test_hanging_tool_times_out_after_per_call_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    tools = runner(per_call_timeout_s=30)
    [outcome] = await tools.run_batch("r", calls("slow"), RecordingExecutor(hang), user_id="u")
    assert outcome.error == "tool slow timed out after 30 s"
    assert trio.current_time() == 30
    assert tools.statistics().timeouts == 1


async def test_batch_timeout_ends_calls_still_waiting(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # One call at a time: the batch's third call would end at 150 s, past the 120 s batch limit.
    tools = runner(
        max_concurrent_per_request=1, per_call_timeout_s=60, batch_timeout_s=120, idle_timeout_s=100
    )
    executor = RecordingExecutor(sleeping(50))
    outcomes = await tools.run_batch("r", calls("same", "same", "same"), executor, user_id="u")
    assert [outcome.ok for outcome in outcomes] == [True, True, False]
    assert outcomes[2].error == "tool same timed out: its batch took longer than 120 s"
    assert trio.current_time() == 120


async def test_idle_timeout_ends_a_round_where_nothing_finishes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    tools = runner(idle_timeout_s=30, per_call_timeout_s=60)
    outcomes = await tools.run_batch("r", calls("a", "b"), RecordingExecutor(hang), user_id="u")
    assert all("no tool call finished within 30 s" in (o.error or "") for o in outcomes)
    assert trio.current_time() == 30


async def test_idle_timeout_restarts_when_a_call_finishes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def first_finishes(invocation: ToolInvocation) -> ToolOutcome:
        if invocation.call_id == "c0":
            await trio.sleep(20)
            return await echo(invocation)
        return await hang(invocation)

    tools = runner(idle_timeout_s=30, per_call_timeout_s=60)
    outcomes = await tools.run_batch(
        "r", calls("a", "b"), RecordingExecutor(first_finishes), user_id="u"
    )
    assert [outcome.ok for outcome in outcomes] == [True, False]
    assert trio.current_time() == 50


async def test_transient_failure_is_retried_after_backoff(
    autojump_clock: trio.testing.MockClock,
) -> None:
    attempts = 0

    async def flaky(invocation: ToolInvocation) -> ToolOutcome:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ToolTransientError("tool server answered 503")
        return await echo(invocation)

    tools = runner(retries=1, retry_backoff_s=2)
    [outcome] = await tools.run_batch("r", calls("a"), RecordingExecutor(flaky), user_id="u")
    assert outcome.ok
    assert (attempts, trio.current_time()) == (2, 2)
    assert tools.statistics().retries == 1


async def test_retryable_outcome_gives_up_after_the_retries(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def busy(invocation: ToolInvocation) -> ToolOutcome:
        return ToolOutcome(invocation.call_id, error="busy", retryable=True)

    executor = RecordingExecutor(busy)
    tools = runner(retries=2, retry_backoff_s=1)
    [outcome] = await tools.run_batch("r", calls("a"), executor, user_id="u")
    assert outcome.error == "tool a failed after 3 attempts: busy"
    assert len(executor.started) == 3
    assert trio.current_time() == 1 + 2


async def test_tool_error_is_not_retried(autojump_clock: trio.testing.MockClock) -> None:
    executor = RecordingExecutor(fail)
    [outcome] = await runner(retries=3).run_batch("r", calls("a"), executor, user_id="u")
    assert outcome.error == "boom"
    assert len(executor.started) == 1


async def test_tool_that_raises_becomes_an_error_outcome() -> None:
    async def broken(invocation: ToolInvocation) -> ToolOutcome:
        raise ValueError("city must not be empty")

    [outcome] = await runner().run_batch("r", calls("a"), RecordingExecutor(broken), user_id="u")
    assert outcome.error == "tool a failed: ValueError: city must not be empty"


async def test_executor_gone_cancels_the_round_and_raises(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def disconnect_later(invocation: ToolInvocation) -> ToolOutcome:
        if invocation.call_id == "c0":
            await trio.sleep(3)
            raise ToolExecutorGoneError("shim disconnected")
        return await hang(invocation)

    tools = runner()
    with pytest.raises(ToolExecutorGoneError, match="shim disconnected"):
        await tools.run_batch(
            "r", calls("a", "b"), RecordingExecutor(disconnect_later), user_id=None
        )
    assert trio.current_time() == 3
    assert tools.statistics().in_flight == 0


async def test_closed_channel_counts_as_executor_gone() -> None:
    async def closed(invocation: ToolInvocation) -> ToolOutcome:
        raise trio.ClosedResourceError

    with pytest.raises(ToolExecutorGoneError):
        await runner().run_batch("r", calls("a"), RecordingExecutor(closed), user_id="u")


async def test_breaker_opens_after_repeated_failures_and_skips_the_tool(
    autojump_clock: trio.testing.MockClock,
) -> None:
    tools = runner(breaker_failures=2, breaker_window_s=60)
    executor = RecordingExecutor(fail)
    statuses: list[str] = []

    async def on_status(status: str) -> None:
        statuses.append(status)

    for _ in range(2):
        await tools.run_batch("r", calls("flaky"), executor, user_id="u")
    [skipped] = await tools.run_batch(
        "r", calls("flaky"), executor, user_id="u", on_status=on_status
    )
    assert skipped.error == "tool flaky temporarily disabled after repeated failures"
    assert len(executor.started) == 2
    assert statuses == ["Tool flaky temporarily disabled after repeated failures"]
    assert tools.statistics().breakers_open == 1


async def test_breaker_is_per_user_and_per_tool(autojump_clock: trio.testing.MockClock) -> None:
    tools = runner(breaker_failures=1)
    await tools.run_batch("r", calls("flaky"), RecordingExecutor(fail), user_id="u1")
    other_user, other_tool = (
        await tools.run_batch("r", calls("flaky"), RecordingExecutor(), user_id="u2"),
        await tools.run_batch("r", calls("fine"), RecordingExecutor(), user_id="u1"),
    )
    assert other_user[0].ok
    assert other_tool[0].ok


async def test_breaker_half_opens_after_the_window_and_recovers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    tools = runner(breaker_failures=1, breaker_window_s=60)
    await tools.run_batch("r", calls("flaky"), RecordingExecutor(fail), user_id="u")
    [early] = await tools.run_batch("r", calls("flaky"), RecordingExecutor(), user_id="u")
    await trio.sleep(60)
    [trial] = await tools.run_batch("r", calls("flaky"), RecordingExecutor(), user_id="u")
    [after] = await tools.run_batch("r", calls("flaky"), RecordingExecutor(), user_id="u")
    assert not early.ok
    assert trial.ok
    assert after.ok
    assert tools.statistics().breakers_open == 0


async def test_user_breaker_skips_every_tool_of_the_user(
    autojump_clock: trio.testing.MockClock,
) -> None:
    tools = runner(breaker_failures=10, user_breaker_failures=2)
    await tools.run_batch("r", calls("a", "b"), RecordingExecutor(fail), user_id="u")
    [skipped] = await tools.run_batch("r", calls("c"), RecordingExecutor(), user_id="u")
    assert skipped.error == "tools temporarily disabled for this user after repeated failures"


async def test_calls_over_the_queue_size_are_refused() -> None:
    executor = RecordingExecutor()
    outcomes = await runner(queue_size=2).run_batch(
        "r", calls("a", "b", "c"), executor, user_id="u"
    )
    assert [outcome.ok for outcome in outcomes] == [True, True, False]
    assert "more than 2 tool calls" in (outcomes[2].error or "")
    assert len(executor.started) == 2


async def test_dependent_call_waits_for_the_calls_before_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    round_ = [
        ToolInvocation("c0", "fetch", "{}"),
        ToolInvocation("c1", "summarise", '{"depends_on": "c0"}'),
    ]
    executor = RecordingExecutor(sleeping(4))
    await runner().run_batch("r", round_, executor, user_id="u")
    assert [start for start, _ in executor.started] == [0, 4]
    assert trio.current_time() == 8


async def test_statistics_count_calls_and_outcomes(autojump_clock: trio.testing.MockClock) -> None:
    tools = runner()

    async def mixed(invocation: ToolInvocation) -> ToolOutcome:
        return await (fail if invocation.call_id == "c1" else echo)(invocation)

    await tools.run_batch("r", calls("a", "b", "a"), RecordingExecutor(mixed), user_id="u")
    stats = tools.statistics()
    assert (stats.rounds, stats.calls, stats.succeeded, stats.failed) == (1, 3, 2, 1)
    assert (stats.batches, stats.in_flight, stats.requests_active) == (3, 0, 0)
