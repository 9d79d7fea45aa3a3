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

import logging
from dataclasses import dataclass, field

import trio

from pipe_service.protocol import ServerFrame, ToolCall, ToolResult
from pipe_service.sessions.outbox import OutboxSender
from pipe_service.tools.contract import ToolExecutorGoneError, ToolInvocation, ToolOutcome

logger = logging.getLogger("pipe_service.front.pipe.tools")


class ShimDisconnectedError(ToolExecutorGoneError):
    """The shim's connection ended before the tool's result arrived."""


@dataclass
class _PendingCall:
    answered: trio.Event = field(default_factory=trio.Event)
    outcome: ToolOutcome | None = None


class ShimToolExecutor:
    """A :class:`~pipe_service.tools.contract.ToolExecutor` whose tools live in the shim.

    Safe to call concurrently (each call waits on its own ``call_id``). Owns ``outbox`` (a clone
    of the connection's outbox send end) and closes it in :meth:`close`.
    """

    def __init__(self, outbox: OutboxSender[ServerFrame]) -> None:
        self._outbox = outbox
        self._pending: dict[str, _PendingCall] = {}
        self._closed = False

    async def execute(self, invocation: ToolInvocation) -> ToolOutcome:
        """Ask the shim to run the tool and wait for its ``tool_result``."""
        if self._closed:
            raise ShimDisconnectedError("the shim connection is closed")
        if invocation.call_id in self._pending:
            raise ValueError(f"tool call {invocation.call_id!r} is already running")
        pending = _PendingCall()
        self._pending[invocation.call_id] = pending
        try:
            frame = ToolCall(
                call_id=invocation.call_id,
                name=invocation.name,
                arguments=invocation.arguments_json,
            )
            try:
                await self._outbox.send(frame)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                raise ShimDisconnectedError("the shim connection is closed") from None
            await pending.answered.wait()
        finally:
            # Also on cancellation (the loop's timeout): a late result is then ignored.
            self._pending.pop(invocation.call_id, None)
        if pending.outcome is None:
            raise ShimDisconnectedError("the shim went away before the tool answered")
        return pending.outcome

    def deliver(self, result: ToolResult) -> bool:
        """Hand a ``tool_result`` to its waiting call; False when none waits (late or unknown)."""
        pending = self._pending.get(result.call_id)
        if pending is None or pending.answered.is_set():
            logger.debug("tool result for no waiting call", extra={"call_id": result.call_id})
            return False
        pending.outcome = ToolOutcome(
            call_id=result.call_id, output=result.output, error=result.error
        )
        pending.answered.set()
        return True

    @property
    def waiting(self) -> int:
        """Tool calls sent to the shim and not answered yet."""
        return len(self._pending)

    def close(self) -> None:
        """Fail every waiting call and refuse new ones (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._outbox.close()
        for pending in self._pending.values():
            pending.answered.set()  # outcome stays None: execute() raises ShimDisconnectedError
