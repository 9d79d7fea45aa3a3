"""Run Open WebUI tools in the shim: ``tool_call`` frames out, ``tool_result`` frames back.

The tool loop calls :meth:`ShimToolExecutor.execute` from the turn's task; the executor puts a
``tool_call`` frame in the connection's outbox and waits for the reader task to hand it the
matching ``tool_result`` (by ``call_id``). When the connection ends, :meth:`close` wakes every
waiting call with :class:`ShimDisconnectedError` — the contract's "transport failure".

Synopsis::

    executor = ShimToolExecutor(outbox.clone())
    tools = ToolContext(executor=executor, specs=specs, user_id=user_id)
    ...                                  # reader task: executor.deliver(tool_result_frame)
    executor.close()                     # connection over: pending calls fail at once
"""

from __future__ import annotations

from pipe_service.front.pipe.replies import ConnectionEndedError, ShimReplies
from pipe_service.protocol import ServerFrame, ToolCall, ToolResult
from pipe_service.sessions.outbox import OutboxSender
from pipe_service.tools.contract import ToolExecutorGoneError, ToolInvocation, ToolOutcome


class ShimDisconnectedError(ToolExecutorGoneError):
    """The shim's connection ended before the tool's result arrived."""


class ShimToolExecutor:
    """A :class:`~pipe_service.tools.contract.ToolExecutor` whose tools live in the shim.

    Safe to call concurrently (each call waits on its own ``call_id``). Owns ``outbox`` (a clone
    of the connection's outbox send end) and closes it in :meth:`close`.
    """

    def __init__(self, outbox: OutboxSender[ServerFrame]) -> None:
        self._replies = ShimReplies[ToolResult](outbox)

    async def execute(self, invocation: ToolInvocation) -> ToolOutcome:
        """Ask the shim to run the tool and wait for its ``tool_result``."""
        frame = ToolCall(
            call_id=invocation.call_id, name=invocation.name, arguments=invocation.arguments_json
        )
        try:
            result = await self._replies.ask(invocation.call_id, frame)
        except ConnectionEndedError as ended:
            if ended.sent:
                raise ShimDisconnectedError("the shim went away before the tool answered") from None
            raise ShimDisconnectedError("the shim connection is closed") from None
        return ToolOutcome(call_id=result.call_id, output=result.output, error=result.error)

    def deliver(self, result: ToolResult) -> bool:
        """Hand a ``tool_result`` to its waiting call; False when none waits (late or unknown)."""
        return self._replies.deliver(result.call_id, result)

    @property
    def waiting(self) -> int:
        """Tool calls sent to the shim and not answered yet."""
        return self._replies.waiting

    def close(self) -> None:
        """Fail every waiting call and refuse new ones (idempotent)."""
        self._replies.close()
