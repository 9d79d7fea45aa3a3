"""The shim tool executor on memory channels: tool_call out, tool_result back by call_id."""

from __future__ import annotations

import pytest
import trio

from pipe_service.front.pipe.tools import ShimDisconnectedError, ShimToolExecutor
from pipe_service.protocol import ServerFrame, ToolCall, ToolResult
from pipe_service.tools.contract import ToolInvocation, ToolOutcome

INVOCATION = ToolInvocation(call_id="call_1", name="get_weather", arguments_json='{"city":"Paris"}')


async def _execute(
    executor: ShimToolExecutor, invocation: ToolInvocation, results: list[ToolOutcome]
) -> None:
    results.append(await executor.execute(invocation))


async def test_execute_sends_a_tool_call_and_returns_the_matching_result() -> None:
    send, receive = trio.open_memory_channel[ServerFrame](4)
    executor = ShimToolExecutor(send)
    results: list[ToolOutcome] = []
    with trio.fail_after(1):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_execute, executor, INVOCATION, results)
            frame = await receive.receive()
            assert frame == ToolCall(
                call_id="call_1", name="get_weather", arguments='{"city":"Paris"}'
            )
            assert executor.deliver(ToolResult(type="tool_result", call_id="call_1", output="18C"))
    assert results == [ToolOutcome(call_id="call_1", output="18C")]
    assert executor.waiting == 0


async def test_concurrent_calls_are_matched_by_call_id() -> None:
    send, receive = trio.open_memory_channel[ServerFrame](4)
    executor = ShimToolExecutor(send)
    results: list[ToolOutcome] = []
    second = ToolInvocation(call_id="call_2", name="get_time", arguments_json="{}")
    with trio.fail_after(1):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_execute, executor, INVOCATION, results)
            nursery.start_soon(_execute, executor, second, results)
            await receive.receive()
            await receive.receive()
            executor.deliver(ToolResult(type="tool_result", call_id="call_2", output="noon"))
            executor.deliver(ToolResult(type="tool_result", call_id="call_1", error="boom"))
    by_call = {outcome.call_id: outcome for outcome in results}
    assert by_call == {
        "call_1": ToolOutcome(call_id="call_1", error="boom"),
        "call_2": ToolOutcome(call_id="call_2", output="noon"),
    }


async def test_a_result_for_no_waiting_call_is_ignored() -> None:
    send, _receive = trio.open_memory_channel[ServerFrame](4)
    executor = ShimToolExecutor(send)
    assert not executor.deliver(ToolResult(type="tool_result", call_id="late"))


async def test_close_fails_waiting_calls_with_shim_disconnected() -> None:
    send, receive = trio.open_memory_channel[ServerFrame](4)
    executor = ShimToolExecutor(send)
    with trio.fail_after(1), pytest.RaisesGroup(ShimDisconnectedError):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_execute, executor, INVOCATION, [])
            await receive.receive()
            executor.close()


async def test_execute_after_close_raises_shim_disconnected() -> None:
    send, _receive = trio.open_memory_channel[ServerFrame](4)
    executor = ShimToolExecutor(send)
    executor.close()
    with pytest.raises(ShimDisconnectedError):
        await executor.execute(INVOCATION)


async def test_a_gone_writer_fails_the_call_with_shim_disconnected() -> None:
    send, receive = trio.open_memory_channel[ServerFrame](4)
    receive.close()
    executor = ShimToolExecutor(send)
    with pytest.raises(ShimDisconnectedError):
        await executor.execute(INVOCATION)
    assert executor.waiting == 0
