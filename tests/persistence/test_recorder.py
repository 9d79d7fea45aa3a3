"""The turn's side of persistence on real databases: markers only for committed rows, replay
for the owner only, user opt-outs, and the per-owner database breaker.

These tests use pytest-trio's ``mock_clock`` (virtual time that moves only when a test jumps
it): the writer commits in worker threads, which an autojumping clock would race.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import sqlalchemy as sa
import trio
import trio.testing

from pipe_service.config.persistence import PersistenceSettings
from pipe_service.persistence.markers import render_markers
from pipe_service.persistence.recorder import (
    FAILED_STATUS,
    PAUSED_STATUS,
    ArtifactPersistence,
    ArtifactScope,
)
from pipe_service.persistence.retention import storage_policy
from pipe_service.storage.bootstrap import ArtifactStorage
from pipe_service.storage.codec import PayloadCodec
from pipe_service.storage.engine import Database
from pipe_service.tools.breaker import BreakerState
from tests.persistence.conftest import start_writer

SETTINGS = PersistenceSettings(breaker_failures=2, breaker_window_s=30)
ALICE = ArtifactScope(owner="user:alice", chat_id="chat-a", message_id="m1", model="openai/gpt-5")
MALLORY = ArtifactScope(
    owner="user:mallory", chat_id="chat-m", message_id="m9", model="openai/gpt-5"
)
TURN: list[dict[str, Any]] = [
    {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAAB-one"},
    {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "weather", "arguments": "{}"},
    {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
    {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": "gAAAAB-two"},
    {"type": "message", "id": "msg_1", "role": "assistant", "content": []},
]


@pytest.fixture
async def persistence(
    nursery: trio.Nursery, database: Database, codec: PayloadCodec
) -> ArtifactPersistence:
    writer = await start_writer(nursery, database, codec)
    return ArtifactPersistence(
        writer=writer, storage=ArtifactStorage(database, codec), settings=SETTINGS
    )


def history(answer: str) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": answer},
        {"role": "user", "content": "and tomorrow?"},
    ]


async def save(persistence: ArtifactPersistence, scope: ArtifactScope = ALICE) -> Any:
    return await persistence.record_turn(TURN, scope=scope, policy=storage_policy(SETTINGS))


async def test_saved_artifacts_replay_in_order_for_their_owner(
    persistence: ArtifactPersistence, mock_clock: trio.testing.MockClock
) -> None:
    saved = await save(persistence)
    assert len(saved.ids) == 4  # the message item is not stored: its text is in the history
    prepared = await persistence.prepare_replay(
        history("It is sunny." + render_markers(saved.ids)), scope=ALICE
    )
    assert prepared.plan.items_before == {1: TURN[:4]}
    assert prepared.messages == history("It is sunny.")


async def test_a_copied_marker_replays_nothing_for_another_user_and_is_logged(
    persistence: ArtifactPersistence,
    mock_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    saved = await save(persistence)
    with caplog.at_level(logging.WARNING, logger="pipe_service.persistence"):
        prepared = await persistence.prepare_replay(
            history("pasted" + render_markers(saved.ids)), scope=MALLORY
        )
    assert prepared.plan.items_before == {}
    assert sorted(prepared.plan.foreign) == sorted(saved.ids)
    assert "another user or chat" in caplog.text
    assert persistence.statistics().foreign_markers == 4


async def test_the_same_user_in_another_chat_replays_nothing(
    persistence: ArtifactPersistence, mock_clock: trio.testing.MockClock
) -> None:
    saved = await save(persistence)
    other_chat = ArtifactScope(
        owner=ALICE.owner, chat_id="chat-b", message_id="m2", model=ALICE.model
    )
    prepared = await persistence.prepare_replay(
        history("x" + render_markers(saved.ids)), scope=other_chat
    )
    assert prepared.plan.items_before == {}


async def test_users_who_opt_out_store_nothing_of_that_kind(
    persistence: ArtifactPersistence, mock_clock: trio.testing.MockClock
) -> None:
    no_reasoning = storage_policy(SETTINGS, user_reasoning="off")
    saved = await persistence.record_turn(TURN, scope=ALICE, policy=no_reasoning)
    assert len(saved.ids) == 2
    nothing = storage_policy(SETTINGS, user_reasoning="off", user_tool_results=False)
    assert (await persistence.record_turn(TURN, scope=ALICE, policy=nothing)).ids == ()


async def test_next_reply_reasoning_is_deleted_once_a_later_turn_consumed_it(
    nursery: trio.Nursery,
    database: Database,
    codec: PayloadCodec,
    mock_clock: trio.testing.MockClock,
) -> None:
    settings = PersistenceSettings(reasoning_retention="next_reply")
    writer = await start_writer(nursery, database, codec)
    persistence = ArtifactPersistence(
        writer=writer, storage=ArtifactStorage(database, codec), settings=settings
    )
    saved = await persistence.record_turn(TURN[:1], scope=ALICE, policy=storage_policy(settings))
    marked = history("a" + render_markers(saved.ids))
    first = await persistence.prepare_replay(marked, scope=ALICE)
    assert first.plan.next_reply_ids == list(saved.ids)
    await persistence.record_turn(
        [], scope=ALICE, policy=storage_policy(settings), consumed=first.plan.next_reply_ids
    )
    # The delete is not waited for (no marker depends on it); the writer is FIFO, so an empty
    # batch acked after it proves it committed.
    await (await writer.submit([], owner=ALICE.owner)).wait()
    again = await persistence.prepare_replay(marked, scope=ALICE)
    assert again.plan.items_before == {}
    assert again.plan.missing == list(saved.ids)


async def test_a_failing_database_opens_the_breaker_then_it_recovers(
    persistence: ArtifactPersistence, database: Database, mock_clock: trio.testing.MockClock
) -> None:
    await database.run_sync(
        lambda conn: conn.execute(sa.text("ALTER TABLE pipe_artifacts RENAME TO down"))
    )
    failures = [await save(persistence) for _ in range(2)]
    assert [f.status for f in failures] == [FAILED_STATUS, FAILED_STATUS]
    assert all(f.ids == () for f in failures)
    assert persistence.breaker_state(ALICE.owner) is BreakerState.OPEN

    paused = await save(persistence)
    assert (paused.ids, paused.status) == ((), PAUSED_STATUS)
    assert persistence.writer.statistics().failed_commits == 2  # no third write was tried
    assert persistence.breaker_state(MALLORY.owner) is BreakerState.CLOSED  # per user

    await database.run_sync(
        lambda conn: conn.execute(sa.text("ALTER TABLE down RENAME TO pipe_artifacts"))
    )
    mock_clock.jump(SETTINGS.breaker_window_s)
    recovered = await save(persistence)
    assert recovered.status is None
    assert len(recovered.ids) == 4
    assert persistence.breaker_state(ALICE.owner) is BreakerState.CLOSED


async def test_a_commit_slower_than_ack_wait_ends_without_markers(
    database: Database, codec: PayloadCodec, autojump_clock: trio.testing.MockClock
) -> None:
    # A writer that never runs: the ack never comes, the turn gives up after ack_wait_s.
    from pipe_service.persistence.db_writer import ArtifactWriter, open_writer_inbox

    writer = ArtifactWriter(open_writer_inbox(4))
    persistence = ArtifactPersistence(
        writer=writer, storage=ArtifactStorage(database, codec), settings=SETTINGS
    )
    saved = await save(persistence)
    assert saved.ids == ()
    assert saved.status == FAILED_STATUS
    assert trio.current_time() == SETTINGS.ack_wait_s


async def test_anonymous_turns_store_and_replay_nothing(
    persistence: ArtifactPersistence, mock_clock: trio.testing.MockClock
) -> None:
    assert (
        await persistence.record_turn(TURN, scope=None, policy=storage_policy(SETTINGS))
    ).ids == ()
    prepared = await persistence.prepare_replay(
        history("a" + render_markers(["01JDX0Q9J8Z5M8K3V3S9E8Y7QF"])), scope=None
    )
    assert prepared.messages == history("a")


async def test_reasoning_written_early_is_placed_before_the_call_it_preceded(
    persistence: ArtifactPersistence, mock_clock: trio.testing.MockClock
) -> None:
    turn = persistence.begin_turn(ALICE, storage_policy(SETTINGS))
    await turn.add_early(TURN[0])  # streamed before the tool call existed
    await turn.add_early(TURN[3])
    saved = await turn.finish(TURN)
    assert len(saved.ids) == 4
    prepared = await persistence.prepare_replay(
        history("done" + render_markers(saved.ids)), scope=ALICE
    )
    assert prepared.plan.items_before == {1: TURN[:4]}


async def test_a_plain_answer_ends_without_a_new_write_when_reasoning_went_early(
    persistence: ArtifactPersistence, mock_clock: trio.testing.MockClock
) -> None:
    turn = persistence.begin_turn(ALICE, storage_policy(SETTINGS))
    await turn.add_early(TURN[0])
    batches = persistence.writer.statistics().batches
    saved = await turn.finish([TURN[0], TURN[4]])
    assert len(saved.ids) == 1
    assert persistence.writer.statistics().batches == batches  # nothing left to submit


async def test_two_reasoning_items_with_the_same_id_are_both_stored(
    persistence: ArtifactPersistence, mock_clock: trio.testing.MockClock
) -> None:
    # Some providers reuse a temporary id ("rs_tmp") for every reasoning item of a response.
    first = {**TURN[0], "id": "rs_tmp"}
    second = {**TURN[3], "id": "rs_tmp"}
    turn = persistence.begin_turn(ALICE, storage_policy(SETTINGS))
    await turn.add_early(first)
    await turn.add_early(second)  # same id: left for finish()
    items = [first, TURN[1], TURN[2], second]
    saved = await turn.finish(items)
    assert len(set(saved.ids)) == 4
    prepared = await persistence.prepare_replay(
        history("x" + render_markers(saved.ids)), scope=ALICE
    )
    assert prepared.plan.items_before == {1: items}


async def test_a_tool_turn_stored_round_by_round_ends_without_a_new_write(
    persistence: ArtifactPersistence, mock_clock: trio.testing.MockClock
) -> None:
    turn = persistence.begin_turn(ALICE, storage_policy(SETTINGS))
    await turn.add_early(TURN[0])  # streamed; its call is not known yet
    await turn.add_round(TURN[:3])  # the round: reasoning (again), call, result
    await turn.add_early(TURN[3])  # the next run's reasoning
    batches = persistence.writer.statistics().batches
    saved = await turn.finish(TURN)
    assert len(saved.ids) == 4
    assert persistence.writer.statistics().batches == batches  # everything was already sent
    prepared = await persistence.prepare_replay(
        history("done" + render_markers(saved.ids)), scope=ALICE
    )
    assert prepared.plan.items_before == {1: TURN[:4]}
