"""Cost snapshots for billing pipelines: one small JSON per answered upstream response, pushed
to Redis with a TTL (``redis.cost_snapshots``, off by default).

Key: ``<prefix>:cost:<owner>:<response id>`` (a ULID when the response has no id), with
``EX redis.cost_snapshot_ttl_s``. Value (JSON)::

    {"owner": "user:…", "user_id": "…", "chat_id": "…", "message_id": "…",
     "model": "vendor/model", "response_id": "gen-…", "at": <unix seconds>,
     "input_tokens": 0, "output_tokens": 0, "cached_tokens": 0, "reasoning_tokens": 0,
     "cache_write_tokens": 0, "web_search_requests": 0, "cost": 0.0012, "is_byok": false}

A billing job scans ``<prefix>:cost:*`` (or ``<prefix>:cost:<owner>:*`` for one user) within
the TTL. Snapshots are telemetry: the edge into the exporter DROPS when its inbox is full
(counted), and a Redis error drops the batch (counted); a turn never waits for either.

Synopsis::

    inbox = open_cost_inbox()
    export = CostExport(inbox)
    await supervisor.start(ActorSpec("cost_snapshots", partial(run, link=link, ttl_s=900,
                                     export=export), inbox=inbox, layer="sink"))
    export.record(CostSnapshot(...))
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from functools import partial
from typing import Final

import redis
import trio

from actors import Inbox, InboxReceiver, OverloadPolicy
from pipe_service.redis_link import RedisLink

logger = logging.getLogger("pipe_service.writebehind.cost_snapshots")

COST_INBOX: Final = "cost_snapshots"
COST_INBOX_SIZE: Final = 1024
COST_BATCH: Final = 256


@dataclass(frozen=True, slots=True)
class CostSnapshot:
    owner: str
    user_id: str
    chat_id: str
    message_id: str
    model: str
    response_id: str
    at: float
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cache_write_tokens: int
    web_search_requests: int
    cost: float | None
    is_byok: bool


def open_cost_inbox() -> Inbox[CostSnapshot]:
    return Inbox[CostSnapshot](COST_INBOX, COST_INBOX_SIZE, OverloadPolicy.DROP)


@dataclass
class CostExportStatistics:
    written: int = 0
    dropped_full: int = 0
    dropped_redis: int = 0


class CostExport:
    """The turns' side: :meth:`record` never waits."""

    def __init__(self, inbox: Inbox[CostSnapshot]) -> None:
        self.inbox = inbox
        self.stats = CostExportStatistics()

    def record(self, snapshot: CostSnapshot) -> None:
        try:
            queued = self.inbox.send_nowait(snapshot)
        except trio.ClosedResourceError:
            queued = False  # shutting down
        if not queued:
            self.stats.dropped_full += 1


async def run(
    inbox: InboxReceiver[CostSnapshot],
    *,
    link: RedisLink,
    ttl_s: int,
    export: CostExport,
    task_status: trio.TaskStatus[CostExport] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Write queued :class:`CostSnapshot` values to Redis, up to ``COST_BATCH`` per pipeline.

    Consumes snapshots; produces Redis keys (layout in the module docstring). ``started()``
    returns ``export`` at once. Resource handling: uses the service's Redis link; returns
    once the inbox is closed and drained. Error handling: a Redis error drops that batch
    (counted and logged): snapshots are telemetry and never hold a turn back.
    """
    task_status.started(export)
    async with inbox:
        async for first in inbox:
            batch = [first]
            while len(batch) < COST_BATCH:
                try:
                    batch.append(inbox.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            try:
                await link.run_sync(partial(_write, link=link, batch=batch, ttl_s=ttl_s))
            except redis.RedisError as exc:
                export.stats.dropped_redis += len(batch)
                logger.warning(
                    "cost snapshots dropped: Redis refused them",
                    extra={"count": len(batch), "error": type(exc).__name__},
                )
                continue
            export.stats.written += len(batch)


def _write(client: redis.Redis, *, link: RedisLink, batch: list[CostSnapshot], ttl_s: int) -> None:
    pipe = client.pipeline(transaction=False)
    for snapshot in batch:
        key = link.keys.cost(snapshot.owner, snapshot.response_id)
        pipe.set(key, json.dumps(asdict(snapshot), separators=(",", ":")), ex=ttl_s)
    pipe.execute()
