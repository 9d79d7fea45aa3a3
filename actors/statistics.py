"""Frozen per-actor records the supervisor hands to ``/status`` and ``/metrics``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from actors.inbox import InboxStatistics

ActorState = Literal["starting", "running", "restarting", "stopped", "failed"]
ActorLayer = Literal["sink", "producer"]


@dataclass(frozen=True)
class ActorStatistics:
    """A snapshot of one supervised actor.

    ``state`` is ``starting`` until the first ``started()``, ``running`` while a run is live,
    ``restarting`` between a crash and the next ``started()``, ``stopped`` after a clean stop and
    ``failed`` after a startup failure or an escalation. ``restarts`` counts restarts since
    start-up. ``last_error`` is the exception type and message of the latest crash (never a
    payload); times are trio clock readings (``trio.current_time()``), ``started_at`` being the
    start of the current (or last) run.
    """

    name: str
    state: ActorState
    layer: ActorLayer
    restartable: bool
    restarts: int
    last_error: str | None
    last_error_at: float | None
    started_at: float | None
    inbox: InboxStatistics | None

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready dict; ``inbox`` is a nested dict or ``None``."""
        return {
            "name": self.name,
            "state": self.state,
            "layer": self.layer,
            "restartable": self.restartable,
            "restarts": self.restarts,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "started_at": self.started_at,
            "inbox": None if self.inbox is None else self.inbox.as_dict(),
        }
