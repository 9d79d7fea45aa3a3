"""The contract between the tool loop and whoever runs a tool (the shim, a direct tool server).

The loop never knows where a tool lives: it hands a :class:`ToolInvocation` to a
:class:`ToolExecutor` and gets a :class:`ToolOutcome` back. The shim-protocol endpoint provides
an executor that sends ``tool_call`` frames and waits for ``tool_result`` frames; tests provide
in-memory ones. Timeouts are the caller's (the tools actor wraps each call in ``fail_after``).
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


@dataclass(frozen=True)
class ToolOutcome:
    """What the tool returned (``output``) or why it could not (``error``)."""

    call_id: str
    output: str = ""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class ToolExecutor(Protocol):
    """Runs tools for one request. Implementations must be safe to call concurrently."""

    async def execute(self, invocation: ToolInvocation) -> ToolOutcome:
        """Run the tool; raise only for transport failures (the shim went away)."""
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
