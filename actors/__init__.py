"""The actor runtime: bounded inboxes, a one-for-one restarting supervisor, graceful shutdown.

See ``docs/actors.md``. This package is the runtime only and imports nothing from
``pipe_service``; each concern's actor lives beside its logic (``pipe_service.catalog.actor``,
``pipe_service.tools.actor``, ...) and builds on the names re-exported here.
"""

from __future__ import annotations

from actors.inbox import (
    Inbox,
    InboxFull,
    InboxReceiver,
    InboxSender,
    InboxStatistics,
    OverloadPolicy,
)
from actors.restart_policy import RestartIntensityExceeded, RestartPolicy
from actors.signals import watch_signals
from actors.statistics import ActorLayer, ActorState, ActorStatistics
from actors.supervisor import ActorSpec, ShutdownInProgress, Supervisor, open_supervisor

__all__ = [
    "ActorLayer",
    "ActorSpec",
    "ActorState",
    "ActorStatistics",
    "Inbox",
    "InboxFull",
    "InboxReceiver",
    "InboxSender",
    "InboxStatistics",
    "OverloadPolicy",
    "RestartIntensityExceeded",
    "RestartPolicy",
    "ShutdownInProgress",
    "Supervisor",
    "open_supervisor",
    "watch_signals",
]
