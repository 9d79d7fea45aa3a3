"""One turn's artifacts on their way to the db_writer, and the marker ids they earn.

Synopsis::

    turn = persistence.begin_turn(scope, policy)
    await turn.add_early(reasoning_item)          # as it streams
    saved = await turn.finish(output_items, consumed=plan.next_reply_ids)
    answer += render_markers(saved.ids)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from pipe_service.persistence.db_writer import PlacementUpdate, WriteAck, WriterClosedError
from pipe_service.persistence.retention import StoragePolicy, anchors, items_to_store
from pipe_service.persistence.status_lines import (
    FAILED_STATUS,
    PAUSED_STATUS,
    UNAVAILABLE_STATUS,
)
from pipe_service.storage.artifact_store import NewArtifact

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


@dataclass(slots=True)
class _Submitted:
    """A row handed to the writer before the end of the turn, and where it stands now."""

    row: NewArtifact
    position: int
    anchor: str
    claimed: bool = False  # matched by a tool round (a later same-id item is another row)


class TurnArtifacts:
    """One turn's artifacts on their way to the writer.

    Rows go to the writer as soon as they are known: a reasoning item when it finishes
    streaming (:meth:`add_early`), a tool round's reasoning, calls and results when the round
    ends (:meth:`add_round`, called by the tool loop). :meth:`finish` submits only what is left
    (usually nothing), corrects the place of rows whose anchor became known later, and waits —
    at most ``ack_wait_s`` in all — for every ack. Markers are returned only when every row of
    the turn committed, so the end of a stream usually finds them committed already.
    """

    def __init__(
        self, persistence: ArtifactPersistence, scope: ArtifactScope | None, policy: StoragePolicy
    ) -> None:
        self._persistence = persistence
        self._scope = scope
        self._policy = policy
        self._submitted: dict[tuple[str, str], deque[_Submitted]] = {}
        self._next_position = 0
        self._acks: list[WriteAck] = []
        self._decided = False
        self._skip_status: str | None = None
        self._closed = False
        self._settled = False

    async def add_early(self, item: dict[str, Any]) -> None:
        """Submit a finished reasoning item now (blocks only while the writer's inbox is full)."""
        key = _key(item)
        if (
            item.get("type") != "reasoning"
            or key is None
            or any(not entry.claimed for entry in self._submitted.get(key, ()))
            or not self._policy.reasoning
            or not self._go(storing=True)
        ):
            return
        await self._submit([self._new(item, anchor="")], [])

    async def add_round(self, items: Sequence[dict[str, Any]]) -> None:
        """Submit a finished tool round: its reasoning, calls and their results, in order.

        Reasoning already sent by :meth:`add_early` is not sent again; its anchor (the call it
        preceded, known only now) is corrected in the same batch.
        """
        stored = items_to_store(items, self._policy)
        if not stored or not self._go(storing=True):
            return
        rows: list[NewArtifact] = []
        placements: list[PlacementUpdate] = []
        for item, anchor in zip(stored, anchors(stored), strict=True):
            key = _key(item)
            entry = (
                next((e for e in self._submitted.get(key, ()) if not e.claimed), None)
                if key is not None
                else None
            )
            if entry is None:
                rows.append(self._new(item, anchor=anchor, claimed=True))
                continue
            entry.claimed = True
            if entry.anchor != anchor and item.get("type") == "reasoning":
                entry.anchor = anchor
                placements.append(PlacementUpdate(entry.row.id, entry.position, anchor))
        await self._submit(rows, placements)

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
        if new_rows or placements or consumed:
            ack = await self._submit_batch(new_rows, placements, consumed)
            if ack is not None and (new_rows or placements):  # a bare delete earns no marker
                self._acks.append(ack)
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
        """Each stored item's row (already submitted, in order, or new) and the fix-ups."""
        rows: list[NewArtifact] = []
        new_rows: list[NewArtifact] = []
        placements: list[PlacementUpdate] = []
        for position, (item, anchor) in enumerate(zip(stored, anchors(stored), strict=True)):
            key = _key(item)
            queue = self._submitted.get(key) if key is not None else None
            entry = queue.popleft() if queue else None  # same-id items map to rows in order
            if entry is None:
                row = self._persistence.new_row(
                    item, self._require_scope(), self._policy, position=position, anchor=anchor
                )
                new_rows.append(row)
            else:
                row = entry.row
                anchor = anchor if row.item_type == "reasoning" else ""
                if (entry.position, entry.anchor) != (position, anchor):
                    placements.append(PlacementUpdate(row.id, position, anchor))
            rows.append(row)
        return rows, new_rows, placements

    def _new(self, item: dict[str, Any], *, anchor: str, claimed: bool = False) -> NewArtifact:
        position = self._next_position
        self._next_position += 1
        row = self._persistence.new_row(
            item, self._require_scope(), self._policy, position=position, anchor=anchor
        )
        key = _key(item)
        if key is not None:
            entry = _Submitted(row, position, anchor if row.item_type == "reasoning" else "")
            entry.claimed = claimed
            self._submitted.setdefault(key, deque()).append(entry)
        return row

    async def _submit(self, rows: list[NewArtifact], placements: list[PlacementUpdate]) -> None:
        if rows or placements:
            ack = await self._submit_batch(rows, placements, ())
            if ack is not None:
                self._acks.append(ack)

    async def _submit_batch(
        self,
        rows: list[NewArtifact],
        placements: list[PlacementUpdate],
        consumed: Sequence[str],
    ) -> WriteAck | None:
        if self._closed:
            return None
        try:
            return await self._persistence.writer.submit(
                rows, delete=consumed, placements=placements, owner=self._require_scope().owner
            )
        except WriterClosedError:
            self._closed = True
            return None

    def _require_scope(self) -> ArtifactScope:
        if self._scope is None:  # every caller checked _go(), which needs a scope
            raise RuntimeError("a turn without an owner stores nothing")
        return self._scope

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


def _key(item: dict[str, Any]) -> tuple[str, str] | None:
    """What identifies an item across the stream, the tool rounds and the final output."""
    kind = item.get("type")
    if kind == "reasoning":
        identity = item.get("id")
    elif kind in ("function_call", "function_call_output"):
        identity = item.get("call_id")
    else:
        return None
    return (str(kind), identity) if isinstance(identity, str) and identity else None
