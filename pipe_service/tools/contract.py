"""The contract between the tool loop and whoever runs a tool (the shim, a direct tool server).

The loop never knows where a tool lives: it hands a :class:`ToolInvocation` to a
:class:`ToolExecutor` and gets a :class:`ToolOutcome` back. The shim-protocol endpoint provides
an executor that sends ``tool_call`` frames and waits for ``tool_result`` frames; tests provide
in-memory ones. Timeouts are the caller's (the tools actor wraps each call in ``fail_after``).

Failures, and what the tools actor does with them:

* the tool itself failed (raised, bad arguments): return ``ToolOutcome(error=...)``; the model
  sees the error text. An executor that raises any other ``Exception`` is treated the same way.
* a transient transport failure (a tool server answered 503, an MCP session dropped): raise
  :class:`ToolTransientError`, or return an outcome with ``retryable=True``; retried a limited
  number of times.
* the executor cannot run anything any more (the shim disconnected): raise
  :class:`ToolExecutorGoneError`; the turn ends without running further tools.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ToolInvocation:
    """One function call the model asked for."""

    call_id: str
    name: str
    arguments_json: str
    user_id: str | None = None
    spec_index: int | None = None
    """Position in ``ToolContext.specs`` of the tool called (tells apart specs sharing a name)."""


@dataclass(frozen=True)
class ToolOutcome:
    """What the tool returned (``output``) or why it could not (``error``)."""

    call_id: str
    output: str = ""
    error: str | None = None
    retryable: bool = False
    """With ``error``: the failure was transient (the tool host says a retry may succeed)."""

    @property
    def ok(self) -> bool:
        return self.error is None


class ToolTransientError(Exception):
    """A transient transport failure while running a tool; the call may be retried."""


class ToolExecutorGoneError(Exception):
    """The executor can no longer run tools for this request (e.g. the shim disconnected)."""


class ToolExecutor(Protocol):
    """Runs tools for one request. Implementations must be safe to call concurrently."""

    async def execute(self, invocation: ToolInvocation) -> ToolOutcome:
        """Run the tool; raise only for transport failures (see the module docstring)."""
        ...


@dataclass(frozen=True)
class ToolContext:
    """The tools available to one request and how to run them.

    ``specs`` are OpenAI-style function specs (``{"name", "description", "parameters"}``) of the
    tools the executor can run. ``passthrough`` hands tool calls back to the client (Open WebUI's
    native loop, or an OpenAI API client) instead of running them here.
    """

    executor: ToolExecutor | None
    specs: list[dict[str, Any]] = field(default_factory=list)
    passthrough: bool = False
    user_id: str | None = None
    max_rounds: int | None = None
    """Tool rounds for this request (the admin's valve); ``None``: the sidecar's setting."""
