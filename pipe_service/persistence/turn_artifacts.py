"""One turn's artifacts on their way to the db_writer, and the marker ids they earn.

Synopsis::

    turn = persistence.begin_turn(scope, policy)
    await turn.add_early(reasoning_item)          # as it streams
    saved = await turn.finish(output_items, consumed=plan.next_reply_ids)
    answer += render_markers(saved.ids)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from pipe_service.persistence.retention import StoragePolicy, anchors, items_to_store
from pipe_service.persistence.status_lines import (
    FAILED_STATUS,
    PAUSED_STATUS,
    UNAVAILABLE_STATUS,
)
from pipe_service.storage.artifact_store import NewArtifact
from pipe_service.storage.db_writer import PlacementUpdate, WriteAck, WriterClosedError

if TYPE_CHECKING:
    from pipe_service.persistence.recorder import ArtifactPersistence


@dataclass(frozen=True, slots=True)
class ArtifactScope:
    """Whose artifacts these are: ``owner`` (``user:<id>`` or an API caller identity), the
    chat ('' without one), the assistant message and the model."""

    owner: str
    chat_id: str
    message_id: str
    model: str


@dataclass(frozen=True, slots=True)
class SavedArtifacts:
    """Ids committed (their markers may be shown) and a status line for the user, if any."""

    ids: tuple[str, ...] = ()
    status: str | None = None


class TurnArtifacts:
    """One turn's artifacts on their way to the writer.

    Reasoning items are submitted as they stream (:meth:`add_early`), so the end of a plain
    turn usually finds them committed already and adds no wait. :meth:`finish` submits the
    rest (tool calls and results, reasoning not yet sent), corrects the place of early rows
    whose anchor is only known now, and waits — at most ``ack_wait_s`` in all — for every ack.
    Markers are returned only when every row of the turn committed.
    """

    def __init__(
        self, persistence: ArtifactPersistence, scope: ArtifactScope | None, policy: StoragePolicy
    ) -> None:
        self._persistence = persistence
        self._scope = scope
        self._policy = policy
        self._early: dict[str, NewArtifact] = {}
        self._acks: list[WriteAck] = []
        self._decided = False
        self._skip_status: str | None = None
        self._closed = False
        self._settled = False

    async def add_early(self, item: dict[str, Any]) -> None:
        """Submit a finished reasoning item now (blocks only while the writer's inbox is full)."""
        item_id = item.get("id")
        if (
            item.get("type") != "reasoning"
            or not isinstance(item_id, str)
            or item_id in self._early
            or not self._policy.reasoning
            or not self._go(storing=True)
            or self._closed
        ):
            return
        assert self._scope is not None  # _go is False without a scope
        row = self._persistence.new_row(
            item, self._scope, self._policy, position=len(self._early), anchor=""
        )
        try:
            ack = await self._persistence.writer.submit([row], owner=self._scope.owner)
        except WriterClosedError:
            self._closed = True
            return
        self._early[item_id] = row
        self._acks.append(ack)

    async def finish(
        self, items: Sequence[dict[str, Any]], *, consumed: Sequence[str] = ()
    ) -> SavedArtifacts:
        """Store the rest of the finished turn; return the ids committed within
        ``ack_wait_s``, or a status line. Never raises for database trouble."""
        persistence = self._persistence
        stored = items_to_store(items, self._policy)
        if not self._go(storing=bool(stored) or bool(consumed)):
            self._settled = True
            return SavedArtifacts(status=self._skip_status if stored else None)
        assert self._scope is not None
        rows, new_rows, placements = self._final_rows(stored)
        try:
            if (new_rows or placements or consumed) and not self._closed:
                ack = await persistence.writer.submit(
                    new_rows, delete=consumed, placements=placements, owner=self._scope.owner
                )
                if new_rows or placements:  # a delete alone is nobody's marker: no wait
                    self._acks.append(ack)
        except WriterClosedError:
            self._closed = True
        if self._closed or not rows:
            self.abandon()
            return SavedArtifacts()
        with trio.move_on_after(persistence.settings.ack_wait_s):
            for ack in self._acks:
                await ack.wait()
        return self._settle(rows)

    def abandon(self) -> None:
        """The turn ended without :meth:`finish` (cancelled, failed): release the breaker."""
        if self._decided and not self._settled and self._scope is not None:
            self._persistence.breaker(self._scope.owner).abandon()
        self._settled = True

    def _go(self, *, storing: bool) -> bool:
        """Decide once per turn whether it stores anything (storage ready, breaker closed)."""
        if self._decided:
            return self._skip_status is None
        if self._scope is None or not self._persistence.settings.enabled or not storing:
            return False
        self._decided = True
        persistence = self._persistence
        if not persistence.storage.ready:
            self._skip_status = UNAVAILABLE_STATUS
        elif not persistence.breaker(self._scope.owner).allows(trio.current_time()):
            self._skip_status = PAUSED_STATUS
        if self._skip_status is not None:
            persistence.count_skipped()
            return False
        persistence.breaker(self._scope.owner).begin(trio.current_time())
        return True

    def _final_rows(
        self, stored: list[dict[str, Any]]
    ) -> tuple[list[NewArtifact], list[NewArtifact], list[PlacementUpdate]]:
        assert self._scope is not None
        rows: list[NewArtifact] = []
        new_rows: list[NewArtifact] = []
        placements: list[PlacementUpdate] = []
        for position, (item, anchor) in enumerate(zip(stored, anchors(stored), strict=True)):
            # pop: an id seen twice (some providers reuse temporary ids) maps to one row only
            reasoning = item.get("type") == "reasoning"
            early = self._early.pop(str(item.get("id")), None) if reasoning else None
            if early is None:
                row = self._persistence.new_row(
                    item, self._scope, self._policy, position=position, anchor=anchor
                )
                new_rows.append(row)
            else:
                row = early
                if (early.position, early.anchor) != (position, anchor):
                    placements.append(PlacementUpdate(early.id, position, anchor))
            rows.append(row)
        return rows, new_rows, placements

    def _settle(self, rows: list[NewArtifact]) -> SavedArtifacts:
        assert self._scope is not None
        self._settled = True
        persistence = self._persistence
        breaker = persistence.breaker(self._scope.owner)
        failed = [ack for ack in self._acks if not ack.ok]
        if failed:
            breaker.record_failure(trio.current_time())
            reason = next(
                (ack.error for ack in failed if ack.error),
                f"not committed within {persistence.settings.ack_wait_s:g} s",
            )
            persistence.count_failure(self._scope.owner, reason)
            return SavedArtifacts(status=FAILED_STATUS)
        breaker.record_success(trio.current_time())
        persistence.count_saved()
        return SavedArtifacts(ids=tuple(row.id for row in rows))
