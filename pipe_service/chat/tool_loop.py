"""The function-call loop (pipeline mode): run the model, run its tools, run the model again.

Each upstream *run* streams like a plain turn: text, reasoning, citations and status lines reach
the user as they come. When a run ends with ``function_call`` items, the loop runs them through
the tools actor (:class:`~pipe_service.tools.runner.ToolRunner`), appends the run's ``reasoning``,
``message`` and ``function_call`` items (in their original order) and one
``function_call_output`` per call to the payload's ``input``, and calls the model again. It stops
when a run asks for no tools; after ``max_function_call_loops`` rounds one final run with
``tool_choice: "none"`` asks the model to answer with what it has.

What the renderer sees differs from a single run in four ways: the runs' ``ToolCallRequest``
events are consumed here (the client must not run them again); a :class:`Status` brackets every
round of tools; citations are numbered across the whole turn; and only the last run's
``Completed`` is sent, carrying the usage summed over every run and every run's output items.

Synopsis::

    await run_tool_loop(request, payload, tools=context, registry=registry, runner=runner,
                        run_once=partial(run_upstream, request, client), send=send)
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pipe_service.chat.events import (
    Citation,
    Completed,
    Failed,
    FinishReason,
    ReasoningItem,
    Status,
    ToolCallRequest,
    ToolRan,
)
from pipe_service.chat.failure import TOOL_HOST_GONE
from pipe_service.chat.tool_citations import harvest_citations
from pipe_service.chat.turn_request import Emit, TurnError, TurnOutput, TurnRequest
from pipe_service.openrouter.errors import UpstreamError
from pipe_service.openrouter.usage import Usage
from pipe_service.telemetry.trace import time_phase
from pipe_service.tools.contract import (
    ToolContext,
    ToolExecutorGoneError,
    ToolInvocation,
    ToolOutcome,
)
from pipe_service.tools.registry import ToolRegistry
from pipe_service.tools.runner import ToolRunner

RunOnce = Callable[[dict[str, Any], Emit], Awaitable[None]]

TOOL_EXECUTOR_GONE: Final = TOOL_HOST_GONE
REPLAYED_ITEM_TYPES: Final = frozenset({"reasoning", "message", "function_call"})
_MAX_STATUS_NAMES = 3


def offer_tools(request: TurnRequest, registry: ToolRegistry, *, strict: bool) -> TurnRequest:
    """``request`` with the body's tools replaced by the executor's, under exposed names.

    The request transform then makes them strict (``strict``), checks the model supports
    tools, and validates ``tool_choice``; a ``tool_choice`` naming a tool is mapped to its exposed
    name, or dropped when the executor has no such tool.
    """
    body = dict(request.body)
    body.pop("tools", None)
    if len(registry):
        body["tools"] = registry.chat_tools()
    choice = body.get("tool_choice")
    if isinstance(choice, Mapping):
        name = _choice_name(choice)
        exposed = registry.exposed_name(name) if name is not None else None
        if exposed is None:
            body.pop("tool_choice", None)
        else:
            body["tool_choice"] = {"type": "function", "function": {"name": exposed}}
    options = request.options.model_copy(update={"strict_tools": strict})
    return dataclasses.replace(request, body=body, options=options)


def wants_tool_loop(request: TurnRequest) -> bool:
    """True when the turn runs tools here: an executor, not passthrough, not a task."""
    tools = request.tools
    return (
        tools is not None
        and tools.executor is not None
        and not tools.passthrough
        and request.task is None
    )


@dataclass(slots=True)
class _Run:
    """What one upstream run produced, as far as the loop cares."""

    completed: Completed | None = None
    usage: Usage | None = None
    calls: list[ToolCallRequest] = field(default_factory=list)
    reasoning: list[dict[str, Any]] = field(default_factory=list)
    ended: bool = False


class _ToolLoop:
    def __init__(
        self,
        request: TurnRequest,
        tools: ToolContext,
        registry: ToolRegistry,
        runner: ToolRunner,
        run_once: RunOnce,
        send: Emit,
    ) -> None:
        self._request = request
        self._tools = tools
        self._registry = registry
        self._runner = runner
        self._run_once = run_once
        self._send = send
        self._forwarded = False
        self._citations: dict[str, int] = {}
        self._usage: Usage | None = None
        self._output_items: list[dict[str, Any]] = []
        self._request_key = uuid.uuid4().hex
        identity = request.identity
        self._user_id = tools.user_id or (identity.user_id if identity is not None else None)

    async def run(self, payload: dict[str, Any]) -> None:
        limit = self._tools.max_rounds or self._runner.settings.max_function_call_loops
        rounds = 0
        while True:
            final = rounds >= limit
            if final:
                payload = {**payload, "tool_choice": "none"}
                await self._emit(
                    Status(
                        f"Tool limit reached ({limit} rounds); answering without tools", done=True
                    )
                )
            run = await self._run_upstream(payload)
            if run.ended or run.completed is None:
                return
            self._add_usage(run.usage or run.completed.usage)
            replayed = _replayed_items(run)
            self._output_items += replayed
            if not run.calls or run.completed.status != "completed" or final:
                await self._finish(run.completed, unrun=len(run.calls) if final else 0)
                return
            try:
                outcomes = await self._execute(run.calls)
            except ToolExecutorGoneError as gone:
                await self._emit(_executor_gone(gone, run.completed.response_id))
                return
            rounds += 1
            outputs = [_output_item(outcome) for outcome in outcomes]
            self._output_items += outputs
            if self._request.on_tool_round is not None:
                await self._request.on_tool_round([*replayed, *outputs])
            payload = {**payload, "input": [*payload["input"], *replayed, *outputs]}

    async def _run_upstream(self, payload: dict[str, Any]) -> _Run:
        run = _Run()

        async def on_event(item: TurnOutput) -> None:
            if isinstance(item, TurnError):
                run.ended = True
                await self._emit(_as_failed(item) if self._forwarded else item)
            elif isinstance(item, ToolCallRequest):
                run.calls.append(item)
            elif isinstance(item, Usage):
                run.usage = item
            elif isinstance(item, Completed):
                run.completed = item
            elif isinstance(item, Citation):
                await self._citation(item)
            else:
                if isinstance(item, ReasoningItem):
                    run.reasoning.append(item.item)
                run.ended = run.ended or isinstance(item, Failed)
                await self._emit(item)

        await self._run_once(payload, on_event)
        return run

    async def _execute(self, calls: list[ToolCallRequest]) -> list[ToolOutcome]:
        """Run one round: unknown names answered here, the rest through the runner."""
        known: list[ToolInvocation] = []
        outcomes: dict[str, ToolOutcome] = {}
        for call in calls:
            binding = self._registry.resolve(call.name)
            if binding is None:
                offered = ", ".join(b.exposed_name for b in self._registry.bindings) or "none"
                outcomes[call.call_id] = ToolOutcome(
                    call_id=call.call_id,
                    error=f"unknown tool {call.name!r}; the tools offered are: {offered}",
                )
                continue
            known.append(
                ToolInvocation(
                    call_id=call.call_id,
                    name=binding.name,
                    arguments_json=call.arguments_json,
                    user_id=self._user_id,
                    spec_index=binding.spec_index,
                )
            )
        names = _names([invocation.name for invocation in known] or [c.name for c in calls])
        await self._emit(Status(f"Running {names}…", done=False))
        if known:
            assert self._tools.executor is not None  # checked by wants_tool_loop
            with time_phase("tools"):
                ran = await self._runner.run_batch(
                    self._request_key,
                    known,
                    self._tools.executor,
                    user_id=self._user_id,
                    on_status=self._notice,
                )
            outcomes.update((outcome.call_id, outcome) for outcome in ran)
        ordered = [outcomes[call.call_id] for call in calls]
        failed = sum(1 for outcome in ordered if not outcome.ok)
        done = f"Ran {names}" if not failed else f"Ran {names} ({failed} failed)"
        await self._emit(Status(done, done=True))
        for call, outcome in zip(calls, ordered, strict=True):
            await self._emit(
                ToolRan(
                    call_id=call.call_id,
                    name=call.name,
                    arguments_json=call.arguments_json,
                    output=outcome.output,
                    error=outcome.error,
                )
            )
            if outcome.ok:
                for citation in harvest_citations(outcome.output):
                    await self._citation(citation)
        return ordered

    async def _citation(self, citation: Citation) -> None:
        # Each run numbers its own citations from 1; renumber so the turn's sources stay unique.
        if citation.url in self._citations:
            return
        self._citations[citation.url] = len(self._citations) + 1
        index = self._citations[citation.url]
        await self._emit(dataclasses.replace(citation, index=index))

    async def _finish(self, completed: Completed, *, unrun: int) -> None:
        if unrun:
            await self._emit(
                Status(f"Tool limit reached: {unrun} more tool call(s) not run", done=True)
            )
        if self._usage is not None:
            await self._emit(self._usage)
        # Calls left unrun at the limit were the loop's to run, not the client's.
        finish_reason: FinishReason = completed.finish_reason
        if finish_reason == "tool_calls":
            finish_reason = "stop"
        await self._emit(
            dataclasses.replace(
                completed,
                usage=self._usage,
                finish_reason=finish_reason,
                output_items=self._output_items,
            )
        )

    def _add_usage(self, usage: Usage | None) -> None:
        if usage is not None:
            self._usage = usage if self._usage is None else self._usage + usage

    async def _emit(self, item: TurnOutput) -> None:
        self._forwarded = True
        await self._send(item)

    async def _notice(self, text: str) -> None:
        """A finished status line from the tools runner (e.g. a breaker skipping a tool)."""
        await self._emit(Status(text, done=True))


async def run_tool_loop(
    request: TurnRequest,
    payload: dict[str, Any],
    *,
    registry: ToolRegistry,
    runner: ToolRunner,
    run_once: RunOnce,
    send: Emit,
) -> None:
    """Run the turn's upstream runs and tool rounds, writing the turn's events with ``send``.

    ``run_once(payload, emit)`` performs one upstream run and emits its events (the plain turn's
    streaming or whole-response path). Errors: an upstream error before any output is sent as a
    :class:`TurnError`, after output as a :class:`Failed`; an executor that is gone (the shim
    left) ends the turn with a :class:`Failed` of code :data:`TOOL_EXECUTOR_GONE`.
    """
    tools = request.tools
    if tools is None or tools.executor is None:
        raise ValueError("run_tool_loop needs a ToolContext with an executor")
    loop = _ToolLoop(request, tools, registry, runner, run_once, send)
    await loop.run(payload)


def _replayed_items(run: _Run) -> list[dict[str, Any]]:
    """The run's items to send back: reasoning, messages and calls, in their original order."""
    completed = run.completed
    items = [
        item
        for item in (completed.output_items if completed is not None else [])
        if item.get("type") in REPLAYED_ITEM_TYPES
        and (item.get("type") != "message" or item.get("id"))
    ]
    answered = {item.get("call_id") for item in items if item.get("type") == "function_call"}
    if all(call.call_id in answered for call in run.calls) and (items or not run.calls):
        return items
    # The terminal response did not list the items (some providers send an empty `output`):
    # rebuild them from the streamed events, reasoning first as the model produced it.
    return [*run.reasoning, *(_function_call_item(call) for call in run.calls)]


def _function_call_item(call: ToolCallRequest) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": call.item_id or f"fc_{call.call_id}",
        "call_id": call.call_id,
        "name": call.name,
        "arguments": call.arguments_json,
        "status": "completed",
    }


def _output_item(outcome: ToolOutcome) -> dict[str, Any]:
    output = outcome.output if outcome.ok else f"Error: {outcome.error}"
    return {"type": "function_call_output", "call_id": outcome.call_id, "output": output}


def _as_failed(error: TurnError) -> Failed:
    """A later round's error, after output was forwarded: same failure value, same id."""
    exc = error.error
    if isinstance(exc, UpstreamError):
        return Failed(
            code=exc.kind.value,
            message=exc.message,
            error_type=exc.error_type,
            response_id=None,
            failure=error.failure,
        )
    return Failed(
        code="error",
        message=str(exc)[:300],
        error_type=None,
        response_id=None,
        failure=error.failure,
    )


def _executor_gone(gone: ToolExecutorGoneError, response_id: str | None) -> Failed:
    detail = f": {gone}" if str(gone) else ""
    return Failed(
        code=TOOL_EXECUTOR_GONE,
        message=f"The tools could not be run: the tool host went away{detail}"[:300],
        error_type=None,
        response_id=response_id,
    )


def _names(names: list[str]) -> str:
    distinct = list(dict.fromkeys(names))
    shown = ", ".join(distinct[:_MAX_STATUS_NAMES])
    if len(distinct) > _MAX_STATUS_NAMES:
        shown += f" and {len(distinct) - _MAX_STATUS_NAMES} more"
    return shown


def _choice_name(choice: object) -> str | None:
    if not isinstance(choice, Mapping):
        return None
    function = choice.get("function")
    name = function.get("name") if isinstance(function, Mapping) else choice.get("name")
    return name if isinstance(name, str) else None
