"""A worker's side of its control channel: answer the supervisor process, forward SIGHUP.

The supervisor process calls a worker to apply the live settings in force (``apply``, with a
generation: an older one than the worker has is ignored), to refresh its catalog, for its
``/status`` and metric families, and to stop gracefully (``stop``); what each does is given
by the service as :class:`WorkerDuties`, so this package needs nothing of the service's parts.

Synopsis::

    link = SupervisorLink(channel, duties, generation=handoff.live_generation)
    await supervisor.start(ActorSpec("supervisor_link", answer_supervisor, args=(link,)))
    await supervisor.start(ActorSpec("reload", forward_reload_signal, args=(channel,)))
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NoReturn

import trio

from pipe_service.workers.control import (
    ControlCallFailedError,
    ControlChannel,
    ControlChannelClosedError,
    Message,
)
from pipe_service.workers.fleet_metrics import EncodedFamily
from pipe_service.workers.live_values import LiveValues

logger = logging.getLogger("pipe_service.workers")

FORWARD_LIMIT_S = 15.0
"""How long a worker waits for the supervisor process to answer a forwarded operator request
(the supervisor waits up to ``ANSWER_LIMIT_S`` for the workers, behind earlier changes)."""


@dataclass(frozen=True)
class WorkerDuties:
    """What this worker does when its supervisor process calls."""

    apply_live: Callable[[LiveValues], list[str]]
    """Apply the live settings in force; the keys that changed here."""
    refresh_catalog: Callable[[], bool]
    """Queue a catalog refresh; False when one was already pending."""
    status: Callable[[], dict[str, object]]
    """This worker's ``/status`` body."""
    metric_families: Callable[[], Awaitable[list[EncodedFamily]]]
    """This worker's metric families (scrape probes run first)."""
    stop: Callable[[str], None]
    """Begin this worker's graceful stop, for the reason given."""


class SupervisorLink:
    """Answers the supervisor process's calls with :class:`WorkerDuties`."""

    def __init__(self, channel: ControlChannel, duties: WorkerDuties, *, generation: int) -> None:
        self.channel = channel
        self.duties = duties
        self.generation = generation
        """The generation of the live settings this worker runs with."""

    async def answer(self, message: Message) -> Message:
        op = message.get("op")
        if op == "apply":
            generation = int(message["generation"])
            if generation <= self.generation:
                return {"applied": [], "generation": self.generation}
            applied = self.duties.apply_live(message["values"])
            self.generation = generation
            return {"applied": applied, "generation": generation}
        if op == "refresh_catalog":
            return {"refresh": "queued" if self.duties.refresh_catalog() else "already pending"}
        if op == "status":
            return self.duties.status()
        if op == "metrics":
            return {"families": await self.duties.metric_families()}
        if op == "stop":
            self.duties.stop(f"the supervisor process stops ({message.get('reason') or '?'})")
            return {}
        raise ValueError(f"unknown operation {op!r} from the supervisor process")


async def answer_supervisor(
    link: SupervisorLink, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> NoReturn:
    """Answer the supervisor process's calls for the life of the worker.

    Consumes the calls on ``link.channel``; produces their answers. ``started()`` returns
    ``None`` once calls are read (what the supervisor sent before is read first). Resource
    handling: the channel's socket is closed when the supervisor's end is. Error handling: an
    answer that raises becomes an error reply (the channel serves on); once the supervisor is
    gone this actor waits, and the stdin watch (``supervisor_process``) ends the worker.
    """
    await link.channel.serve(link.answer, task_status=task_status)
    await trio.sleep_forever()
    raise AssertionError("unreachable")


async def forward_reload_signal(
    channel: ControlChannel, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> NoReturn:
    """SIGHUP sent to a worker reloads every worker, through the supervisor process.

    Consumes SIGHUP; produces a log line with the outcome. ``started()`` returns ``None`` once
    the handler is installed. Resource handling: the handler lives as long as this actor.
    Error handling: a reload refused or unanswered is logged; the next SIGHUP is awaited.
    """
    with trio.open_signal_receiver(signal.SIGHUP) as signals:
        task_status.started()
        async for _ in signals:
            try:
                with trio.fail_after(FORWARD_LIMIT_S):
                    reply = await channel.call({"op": "reload"})
            except (ControlChannelClosedError, ControlCallFailedError, trio.TooSlowError) as exc:
                logger.error("SIGHUP: the reload did not reach the supervisor process: %s", exc)
                continue
            body = reply.get("body", {})
            logger.info(
                "SIGHUP: reloaded through the supervisor process",
                extra={"status": reply.get("status"), "error": body.get("error") or "-"},
            )
    raise AssertionError("unreachable: the signal receiver never ends")
