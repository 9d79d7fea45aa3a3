"""The turn's side of persistence: load replayed artifacts before a turn, and hand each turn a
recorder (:class:`TurnArtifacts`) that stores its artifacts and returns marker ids only for
what the writer committed.

:class:`ArtifactPersistence` is one per process (it holds the per-owner database breakers).
Each turn gets an :class:`ArtifactScope` naming the owner and chat; a turn without an owner
(an anonymous caller) stores and replays nothing.

The database breaker: ``breaker_failures`` failed reads or writes of one owner within
``breaker_window_s`` *open* that owner's breaker. While open, the owner's turns skip persistence
and show a status line; after the window one trial goes through and a success closes it again.

Synopsis::

    persistence = ArtifactPersistence(writer=writer, storage=storage,
                                      settings=settings.persistence)
    prepared = await persistence.prepare_replay(body["messages"], scope=scope)
    ...build the payload from prepared.messages and prepared.plan.items_before...
    turn = persistence.begin_turn(scope, policy)       # fed while the turn streams
    saved = await turn.finish(output_items, consumed=prepared.plan.next_reply_ids)
    answer += render_markers(saved.ids)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import trio

from pipe_service.config.persistence import PersistenceSettings
from pipe_service.persistence.db_writer import ArtifactWriter
from pipe_service.persistence.replay import (
    ReplayPlan,
    assistant_turns_after,
    marked_messages,
    plan_replay,
    strip_history_markers,
)
from pipe_service.persistence.retention import StoragePolicy
from pipe_service.persistence.status_lines import (
    FAILED_STATUS,
    LOAD_FAILED_STATUS,
    PAUSED_STATUS,
    UNAVAILABLE_STATUS,
    UNDECRYPTABLE_STATUS,
)
from pipe_service.persistence.turn_artifacts import ArtifactScope, SavedArtifacts, TurnArtifacts
from pipe_service.storage.artifact_store import NewArtifact, ReplayLoad, load_for_replay
from pipe_service.storage.bootstrap import ArtifactStorage
from pipe_service.storage.ids import UlidGenerator
from pipe_service.tools.breaker import BreakerState, SlidingWindowBreaker
from pipe_service.writebehind.queue import WriteBehind

__all__ = [
    "FAILED_STATUS",
    "LOAD_FAILED_STATUS",
    "PAUSED_STATUS",
    "UNAVAILABLE_STATUS",
    "ArtifactPersistence",
    "ArtifactScope",
    "PersistenceStatistics",
    "PreparedReplay",
    "SavedArtifacts",
    "TurnArtifacts",
]

logger = logging.getLogger("pipe_service.persistence")


@dataclass(slots=True)
class PreparedReplay:
    """The history without markers, what to replay into it, and a status line if any."""

    messages: object
    plan: ReplayPlan = field(default_factory=ReplayPlan)
    status: str | None = None


@dataclass(frozen=True, slots=True)
class PersistenceStatistics:
    turns_saved: int
    turns_skipped_by_breaker: int
    save_failures: int
    foreign_markers: int
    open_breakers: int


class ArtifactPersistence:
    """Replay before a turn, storage after it, with a database breaker per owner."""

    def __init__(
        self,
        *,
        writer: ArtifactWriter,
        storage: ArtifactStorage,
        settings: PersistenceSettings,
        write_behind: WriteBehind | None = None,
    ) -> None:
        self.writer = writer
        self.write_behind = write_behind
        self.storage = storage
        self.settings = settings
        self._ids = UlidGenerator()
        self._breakers: dict[str, SlidingWindowBreaker] = {}
        self._saved = 0
        self._skipped = 0
        self._failures = 0
        self._foreign = 0

    # -- before the turn ------------------------------------------------------------------

    async def prepare_replay(
        self, messages: object, *, scope: ArtifactScope | None
    ) -> PreparedReplay:
        """Strip markers from ``messages`` and load what they name (owner and chat only)."""
        prepared = PreparedReplay(messages=strip_history_markers(messages))
        marked = marked_messages(messages)
        if not marked or scope is None or not self.settings.enabled:
            return prepared
        if not self.storage.ready:
            prepared.status = LOAD_FAILED_STATUS
            return prepared
        breaker = self.breaker(scope.owner)
        now = trio.current_time()
        if not breaker.allows(now):
            prepared.status = PAUSED_STATUS
            return prepared
        breaker.begin(now)
        ids = [artifact_id for message in marked for artifact_id in message.ids]
        try:
            load = await self._load(ids, scope)
        except Exception as exc:
            breaker.record_failure(trio.current_time())
            self._failures += 1
            logger.warning("artifact replay read failed", extra={"error": type(exc).__name__})
            prepared.status = LOAD_FAILED_STATUS
            return prepared
        except BaseException:
            breaker.abandon()
            raise
        breaker.record_success(trio.current_time())
        if load.unreadable:
            # Most often a sidecar of a fleet that was not given the fleet's shared
            # persistence.encryption_key: say so to the operator and the user.
            logger.error(
                "stored artifacts cannot be read; they are not replayed",
                extra={
                    "count": len(load.unreadable),
                    "reason": next(iter(load.unreadable.values())),
                },
            )
            prepared.status = UNDECRYPTABLE_STATUS
        prepared.plan = plan_replay(
            marked,
            load,
            model=scope.model,
            assistant_turns_after=assistant_turns_after(messages),
            tool_output_retention_turns=self.settings.tool_output_retention_turns,
            tool_output_trim_chars=self.settings.tool_output_trim_chars,
        )
        self._log_plan(prepared.plan, scope)
        return prepared

    async def _load(self, ids: list[str], scope: ArtifactScope) -> ReplayLoad:
        """The Redis read cache first (one MGET), the database for the rest."""
        codec = self.storage.require_codec()
        load, remaining = ReplayLoad(), ids
        if self.write_behind is not None:
            load, remaining = await self.write_behind.read_cached(
                codec, ids, owner=scope.owner, chat_id=scope.chat_id
            )
        if not remaining:
            return load
        stored = await self.storage.database.run_sync(
            partial(
                load_for_replay,
                codec=codec,
                ids=remaining,
                owner=scope.owner,
                chat_id=scope.chat_id,
                now=time.time(),
            )
        )
        stored.owned.update(load.owned)
        stored.foreign.extend(load.foreign)
        stored.unreadable.update(load.unreadable)
        return stored

    # -- during and after the turn ---------------------------------------------------------

    def begin_turn(self, scope: ArtifactScope | None, policy: StoragePolicy) -> TurnArtifacts:
        """The recorder of one turn: reasoning may be written as it streams
        (:meth:`TurnArtifacts.add_early`), the rest at :meth:`TurnArtifacts.finish`."""
        return TurnArtifacts(self, scope, policy)

    async def record_turn(
        self,
        items: Sequence[dict[str, Any]],
        *,
        scope: ArtifactScope | None,
        policy: StoragePolicy,
        consumed: Sequence[str] = (),
    ) -> SavedArtifacts:
        """Store a finished turn's artifacts in one go (see :meth:`TurnArtifacts.finish`)."""
        return await self.begin_turn(scope, policy).finish(items, consumed=consumed)

    def count_saved(self) -> None:
        self._saved += 1

    def count_skipped(self) -> None:
        self._skipped += 1

    def count_failure(self, owner: str, reason: str) -> None:
        self._failures += 1
        logger.warning("artifacts not saved", extra={"owner": owner, "reason": reason})

    def statistics(self) -> PersistenceStatistics:
        now = trio.current_time()
        return PersistenceStatistics(
            turns_saved=self._saved,
            turns_skipped_by_breaker=self._skipped,
            save_failures=self._failures,
            foreign_markers=self._foreign,
            open_breakers=sum(
                1 for b in self._breakers.values() if b.state(now) is not BreakerState.CLOSED
            ),
        )

    def breaker_state(self, owner: str) -> BreakerState:
        return self.breaker(owner).state(trio.current_time())

    # -- internals ------------------------------------------------------------------------

    def new_row(
        self,
        item: dict[str, Any],
        scope: ArtifactScope,
        policy: StoragePolicy,
        *,
        position: int,
        anchor: str,
    ) -> NewArtifact:
        reasoning = item.get("type") == "reasoning"
        return NewArtifact(
            id=self._ids.new(),
            owner=scope.owner,
            chat_id=scope.chat_id,
            message_id=scope.message_id,
            model=scope.model,
            item=item,
            position=position,
            anchor=anchor if reasoning else "",
            retention="next_reply"
            if reasoning and policy.reasoning_next_reply_only
            else ("conversation"),
            encrypt=self.settings.encrypt == "all" or reasoning,
        )

    def breaker(self, owner: str) -> SlidingWindowBreaker:
        breaker = self._breakers.get(owner)
        if breaker is None:
            if len(self._breakers) > 10_000:  # bound memory: forget owners with nothing to say
                now = trio.current_time()
                for key in [k for k, b in self._breakers.items() if b.idle(now)]:
                    del self._breakers[key]
            breaker = self._breakers[owner] = SlidingWindowBreaker(
                failures=self.settings.breaker_failures, window_s=self.settings.breaker_window_s
            )
        return breaker

    def _log_plan(self, plan: ReplayPlan, scope: ArtifactScope) -> None:
        if plan.foreign:
            self._foreign += len(plan.foreign)
            logger.warning(
                "markers name artifacts of another user or chat; nothing of them is replayed",
                extra={"owner": scope.owner, "chat_id": scope.chat_id, "ids": plan.foreign[:10]},
            )
        if plan.missing or plan.dropped:
            logger.info(
                "replay skipped artifacts",
                extra={"missing": len(plan.missing), "dropped": len(plan.dropped)},
            )
