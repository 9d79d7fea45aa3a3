"""Split one round of function calls into batches and ordered stages.

A *batch* is consecutive calls of the same tool with independent arguments, at most ``cap``
calls; its calls run concurrently. A call is *dependent* when its arguments carry one of
:data:`DEPENDENCY_KEYS` or mention another call's ``call_id`` of the same round: it runs alone,
after every earlier call finished, and before any later one starts. So a round becomes a list of
*stages*: a stage of independent batches (run concurrently, in FIFO order), or a stage holding one
dependent call.

Synopsis::

    stages = plan_stages(invocations, cap=8)
    for stage in stages:
        ...run stage.batches (concurrently), then the next stage...
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pipe_service.tools.contract import ToolInvocation

DEPENDENCY_KEYS: Final = frozenset({"depends_on", "_depends_on", "sequential", "no_batch"})


@dataclass(frozen=True, slots=True)
class PlannedCall:
    """A call and its position in the round (outcomes come back in round order)."""

    position: int
    invocation: ToolInvocation


@dataclass(slots=True)
class Batch:
    """Calls of one tool run together."""

    name: str
    calls: list[PlannedCall] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Stage:
    """Batches that may run at the same time; ``dependent`` stages hold exactly one call."""

    batches: list[Batch]
    dependent: bool = False


def plan_stages(invocations: Sequence[ToolInvocation], *, cap: int) -> list[Stage]:
    """The stages of one round, preserving call order."""
    call_ids = {invocation.call_id for invocation in invocations}
    stages: list[Stage] = []
    open_batches: list[Batch] = []
    for position, invocation in enumerate(invocations):
        planned = PlannedCall(position, invocation)
        if is_dependent(invocation, call_ids - {invocation.call_id}):
            if open_batches:
                stages.append(Stage(open_batches))
                open_batches = []
            stages.append(Stage([Batch(invocation.name, [planned])], dependent=True))
            continue
        last = open_batches[-1] if open_batches else None
        if last is not None and last.name == invocation.name and len(last.calls) < cap:
            last.calls.append(planned)
        else:
            open_batches.append(Batch(invocation.name, [planned]))
    if open_batches:
        stages.append(Stage(open_batches))
    return stages


def is_dependent(invocation: ToolInvocation, other_call_ids: set[str]) -> bool:
    """True when the call's arguments ask to run alone or refer to another call of the round."""
    arguments = _arguments(invocation.arguments_json)
    if isinstance(arguments, dict) and DEPENDENCY_KEYS & arguments.keys():
        return True
    return any(call_id and call_id in invocation.arguments_json for call_id in other_call_ids)


def _arguments(arguments_json: str) -> Any:
    try:
        return json.loads(arguments_json)
    except ValueError:
        return None
