"""Cost snapshots are telemetry: recording never waits, a full exporter inbox drops (and counts)
the extra snapshot, and a Redis that refuses a batch drops it (counted) without stopping the
exporter."""

from __future__ import annotations

from functools import partial

import trio

from pipe_service.redis_link import RedisLink
from pipe_service.writebehind import cost_snapshots
from pipe_service.writebehind.cost_snapshots import (
    COST_INBOX_SIZE,
    CostExport,
    CostSnapshot,
    open_cost_inbox,
)
from tests.service.conftest import free_port


def snapshot(n: int = 0) -> CostSnapshot:
    return CostSnapshot(
        owner="user:u",
        user_id="u",
        chat_id="c",
        message_id="m",
        model="x/y",
        response_id=f"gen-{n}",
        at=0.0,
        input_tokens=10,
        output_tokens=5,
        cached_tokens=0,
        reasoning_tokens=0,
        cache_write_tokens=0,
        web_search_requests=0,
        cost=0.001,
        is_byok=False,
    )


def test_recording_into_a_full_inbox_drops_and_counts_instead_of_waiting() -> None:
    export = CostExport(open_cost_inbox())
    for n in range(COST_INBOX_SIZE + 3):
        export.record(snapshot(n))
    assert export.stats.dropped_full == 3


async def test_a_redis_that_refuses_drops_the_batch_and_the_exporter_carries_on() -> None:
    dead = RedisLink.open(
        f"redis://127.0.0.1:{free_port()}/0", key_prefix="p", pool_size=1, op_timeout_s=1
    )
    inbox = open_cost_inbox()
    export = CostExport(inbox)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(
                partial(cost_snapshots.run, inbox.receiver(), link=dead, ttl_s=60, export=export)
            )
            export.record(snapshot(1))
            export.record(snapshot(2))
            inbox.close_senders()
    assert export.stats.dropped_redis == 2
    assert export.stats.written == 0
    dead.close()
