"""The cost-snapshot stage: between the turn and the coalescer, it forwards every event and
hands each finished upstream response's usage to the cost exporter (never waiting on it).
Only in the pipeline when ``redis.cost_snapshots`` is on."""

from __future__ import annotations

import time

import trio

from pipe_service.chat.events import Completed
from pipe_service.chat.turn_request import TurnOutput, TurnRequest
from pipe_service.storage.ids import UlidGenerator
from pipe_service.writebehind.cost_snapshots import CostExport, CostSnapshot

_IDS = UlidGenerator()


async def relay_with_cost_snapshots(
    events: trio.MemoryReceiveChannel[TurnOutput],
    out: trio.MemorySendChannel[TurnOutput],
    export: CostExport,
    request: TurnRequest,
) -> None:
    """Forward ``events`` to ``out`` (closing both), recording each :class:`Completed`'s usage."""
    async with events, out:
        async for event in events:
            record_cost(event, export, request)
            await out.send(event)


def record_cost(event: TurnOutput, export: CostExport, request: TurnRequest) -> None:
    """Hand a finished response's usage to the exporter (the stage's step; never waits)."""
    if isinstance(event, Completed) and event.usage is not None:
        export.record(snapshot_of(event, request))


def snapshot_of(event: Completed, request: TurnRequest) -> CostSnapshot:
    usage = event.usage
    assert usage is not None
    identity = request.identity
    user_id = (identity.user_id if identity is not None else None) or ""
    return CostSnapshot(
        owner=request.owner or (f"user:{user_id}" if user_id else "anonymous"),
        user_id=user_id,
        chat_id=(identity.chat_id if identity is not None else None) or "",
        message_id=(identity.message_id if identity is not None else None) or "",
        model=event.model or request.model.slug,
        response_id=event.response_id or _IDS.new(),
        at=time.time(),
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cached_tokens=usage.cached_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        web_search_requests=usage.web_search_requests,
        cost=usage.cost,
        is_byok=usage.is_byok,
    )
