"""Small actors used by the supervisor tests; each reports what it saw through a channel."""

from __future__ import annotations

import trio

from actors import InboxReceiver


async def idle(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """A producer that does nothing until it is cancelled."""
    task_status.started()
    await trio.sleep_forever()


async def slow_sink(
    inbox: InboxReceiver[int],
    received: list[int],
    seconds_per_message: float,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """A sink taking ``seconds_per_message`` per message, returning at end-of-stream."""
    task_status.started()
    async with inbox:
        async for msg in inbox:
            await trio.sleep(seconds_per_message)
            received.append(msg)


async def report_and_crash(
    runs: trio.MemorySendChannel[float],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Report the trio time of each run's start, then crash right after started()."""
    runs.send_nowait(trio.current_time())
    task_status.started()
    raise ValueError("boom")
