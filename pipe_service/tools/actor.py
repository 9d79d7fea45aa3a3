"""The tools actor: owns the process-wide tool state (global limit, breakers, statistics).

Tool calls do not travel through this actor's task: a round runs in the requesting turn's own
task tree (:meth:`ToolRunner.run_batch`), so a cancelled turn cancels its tools and no tool
outlives its request. What must be shared across requests — the global concurrency limit, the
per-user and per-user-per-tool breakers, the counters — lives in the :class:`ToolRunner` this
actor hands out, and the actor keeps the breaker table small.

Synopsis::

    runner = ToolRunner(settings.tools)
    tools = await supervisor.start(ActorSpec("tools", run, args=(runner,), restart=restarts))
    outcomes = await tools.run_batch("req-1", invocations, executor, user_id="u1")
"""

from __future__ import annotations

from typing import Final, NoReturn

import trio

from pipe_service.tools.runner import ToolRunner

BREAKER_PRUNE_INTERVAL_S: Final = 60.0
"""How often idle breakers (closed, no failure in the window) are forgotten."""


async def run(
    runner: ToolRunner,
    *,
    prune_interval_s: float = BREAKER_PRUNE_INTERVAL_S,
    task_status: trio.TaskStatus[ToolRunner] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """Hand out ``runner`` and prune its idle breakers every ``prune_interval_s``.

    Consumes nothing (rounds run in the callers' tasks); ``started()`` returns the runner.

    **Resource handling:** holds no resource. The runner is built by the service, not here, so
    breaker state and the global limit survive a restart of this actor.

    **Error handling:** nothing is expected to fail; an error escapes to the supervisor.
    """
    task_status.started(runner)
    deadline = trio.current_time()
    while True:
        # sleep_until a fixed schedule: pruning does not drift with its own run time.
        deadline += prune_interval_s
        await trio.sleep_until(deadline)
        runner.breakers.prune(trio.current_time())
