"""When Redis fails, the db_writer writes to the database directly: the turn's ack still means
"committed", and after ``breaker_failures`` errors Redis is not even tried until the window
passes."""

from __future__ import annotations

from functools import partial

import trio
import trio.testing

from pipe_service.persistence import db_writer
from pipe_service.persistence.db_writer import ArtifactWriter, WriterPolicy, open_writer_inbox
from pipe_service.redis_link import RedisLink
from pipe_service.storage.artifact_store import count_artifacts
from pipe_service.storage.bootstrap import ArtifactStorage
from pipe_service.tools.breaker import BreakerState
from tests.service.conftest import free_port
from tests.writebehind.conftest import make_behind
from tests.writebehind.rows import row


async def test_with_redis_down_batches_are_committed_to_the_database_directly(
    nursery: trio.Nursery, storage: ArtifactStorage
) -> None:
    dead = RedisLink.open(
        f"redis://127.0.0.1:{free_port()}/0", key_prefix="p", pool_size=1, op_timeout_s=1
    )
    behind = make_behind(dead, breaker_failures=2, breaker_window_s=30)
    inbox = open_writer_inbox(4)
    writer = ArtifactWriter(inbox)
    await nursery.start(
        partial(
            db_writer.run, inbox.receiver(), writer, storage, WriterPolicy(), write_behind=behind
        )
    )
    for n in range(3):
        ack = await writer.submit([row(n)], owner="user:u")
        with trio.fail_after(10):
            await ack.wait()
        assert ack.ok
    assert await storage.database.run_sync(count_artifacts) == 3
    statistics = behind.statistics()
    assert statistics.redis_errors == 2  # the third batch did not try Redis at all
    assert statistics.direct_writes == 3
    assert behind.breaker.state(trio.current_time()) is BreakerState.OPEN
    dead.close()


async def test_after_the_breaker_window_one_write_tries_redis_again(
    autojump_clock: trio.testing.MockClock, storage: ArtifactStorage
) -> None:
    dead = RedisLink.open(
        f"redis://127.0.0.1:{free_port()}/0", key_prefix="p", pool_size=1, op_timeout_s=1
    )
    behind = make_behind(dead, breaker_failures=1, breaker_window_s=30)
    behind.record_redis_error(ConnectionError("refused"))
    assert not behind.accepting()
    await trio.sleep(30)
    assert behind.accepting()  # half-open: one trial
    behind.breaker.begin(trio.current_time())
    assert not behind.accepting()  # only one at a time
    dead.close()
