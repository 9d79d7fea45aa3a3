"""The supervisor process's side of the operator routes: one change reaches every worker.

A worker that receives ``pipe-service set``, a reload or a catalog refresh does not apply it
itself: it calls the supervisor process over its control channel, and the hub here

1. validates and applies the change to the **one** set of live settings it owns (a bad value is
   a 400 and nothing changes anywhere), numbering each change (the generation);
2. sends the new live part to every worker (``apply``) and waits for each answer, at most
   ``ANSWER_LIMIT_S`` per worker, all at once;
3. answers with the report and one outcome per worker: ``applied``; ``starting`` (it gets the
   change through its channel before it serves); ``restarting`` (it is down; its next run
   starts from the current settings, which travel in its handoff); or ``failed`` with the
   reason (the answer is then a 503 naming the workers).

Changes are serialized (one lock), so every worker applies them in the same order; a worker
also ignores a generation older than the one it has. ``/status`` and ``/metrics`` are gathered
the same way: the hub asks every serving worker and hands all the answers back.

Synopsis::

    hub = AdminHub(LiveSettings(settings, reload_source=...), count=2)
    hub.attach(0, channel)                      # when worker 0 is spawned
    await nursery.start(channel.serve, partial(hub.answer, 0))
    hub.mark_serving(0, channel)                # once it said it serves
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Literal

import trio

from pipe_service.config.live import ApplyReport, LiveSettings
from pipe_service.config.loading import ConfigError
from pipe_service.workers.control import (
    ControlCallFailedError,
    ControlChannel,
    ControlChannelClosedError,
    Message,
)
from pipe_service.workers.live_values import LiveValues, live_values

logger = logging.getLogger("pipe_service.workers")

ANSWER_LIMIT_S = 5.0
"""How long the supervisor process waits for one worker's answer (all workers at once)."""

WorkerState = Literal["starting", "serving", "down"]


@dataclass
class WorkerLink:
    """The hub's view of one worker slot."""

    index: int
    state: WorkerState = "down"
    channel: ControlChannel | None = None
    pid: int | None = None
    process_restarts: int = 0


@dataclass(frozen=True)
class _Asked:
    link: WorkerLink
    state: WorkerState
    body: Message | None = None
    error: str | None = None


class AdminHub:
    """Owns the workers' live settings and answers the operator calls workers forward."""

    def __init__(self, live: LiveSettings, count: int) -> None:
        self.live = live
        self.generation = 0
        self.links = [WorkerLink(index) for index in range(count)]
        self._values = live_values(live.current)
        self._changing = trio.Lock()

    def snapshot(self) -> tuple[int, LiveValues]:
        """The live settings in force and their generation (for a worker's handoff)."""
        return self.generation, self._values

    def attach(self, index: int, channel: ControlChannel, *, process_restarts: int = 0) -> None:
        """Worker ``index`` is being spawned with ``channel``; call it in the same step as
        :meth:`snapshot` (no ``await`` between), so no change falls between the two."""
        link = self.links[index]
        link.channel, link.state, link.pid = channel, "starting", None
        link.process_restarts = process_restarts

    def mark_serving(self, index: int, channel: ControlChannel, pid: int) -> None:
        link = self.links[index]
        if link.channel is channel:
            link.state, link.pid = "serving", pid

    def detach(self, index: int, channel: ControlChannel) -> None:
        link = self.links[index]
        if link.channel is channel:
            link.channel, link.state = None, "down"

    async def answer(self, index: int, message: Message) -> Message:
        """Answer a call worker ``index`` forwarded (an operator route it received)."""
        op = message.get("op")
        if op == "set":
            key, value = message.get("key"), message.get("value")
            if not isinstance(key, str) or not isinstance(value, str):
                return _http(400, {"error": 'expected {"key": "section.field", "value": "text"}'})
            return await self.set_value(key, value)
        if op == "reload":
            return await self.reload()
        if op == "refresh_catalog":
            return await self.refresh_catalogs()
        if op == "status":
            return await self.gather_status()
        if op == "metrics":
            return await self.gather_metrics()
        raise ValueError(f"unknown operation {op!r} from worker {index}")

    async def set_value(self, key: str, raw: str) -> Message:
        async with self._changing:
            try:
                report = self.live.set_value(key, raw)
            except (ConfigError, ValueError) as exc:
                return _http(400, {"error": str(exc)})
            return await self._publish(report)

    async def reload(self) -> Message:
        """Read the configuration again (SIGHUP, ``pipe-service reload``) for every worker."""
        async with self._changing:
            try:
                report = self.live.reload()
            except (ConfigError, ValueError) as exc:
                return _http(400, {"error": str(exc)})
            return await self._publish(report)

    async def refresh_catalogs(self) -> Message:
        asked = await self._ask_all({"op": "refresh_catalog"})
        outcomes = []
        for one in asked:
            outcome = _outcome(one, at_start="fetches the catalog as it starts")
            if one.body is not None:
                outcome["outcome"] = one.body.get("refresh")
            outcomes.append(outcome)
        refreshes = [one.body.get("refresh") for one in asked if one.body is not None]
        body: Message = {
            "refresh": "queued" if "queued" in refreshes else "already pending",
            "workers": outcomes,
        }
        return _http(202, body) if not _failed(outcomes, body) else _http(503, body)

    async def gather_status(self) -> Message:
        """Every worker's ``/status`` (or why it is missing), with the supervisor's view."""
        entries = []
        for one in await self._ask_all({"op": "status"}):
            entry = _entry(one)
            if one.body is not None:
                entry["status"] = one.body
            entries.append(entry)
        return {
            "supervisor": {
                "pid": os.getpid(),
                "workers": len(self.links),
                "live_generation": self.generation,
            },
            "workers": entries,
        }

    async def gather_metrics(self) -> Message:
        """Every worker's metric families (absent for a worker that did not answer)."""
        entries = []
        for one in await self._ask_all({"op": "metrics"}):
            entry = _entry(one)
            if one.body is not None:
                entry["families"] = one.body.get("families", [])
            entries.append(entry)
        return {"workers": entries}

    async def _publish(self, report: ApplyReport) -> Message:
        """Send the live settings now in force to every worker; the report per worker."""
        # Once the change is ours, every worker must hear of it even if the worker that
        # forwarded it dies meanwhile (its channel's tasks are then cancelled).
        with trio.CancelScope(shield=True):
            self.generation += 1
            self._values = live_values(self.live.current)
            message = {"op": "apply", "generation": self.generation, "values": self._values}
            asked = await self._ask_all(message, notify_starting=True)
        outcomes = [_outcome(one, at_start="applies it before it serves") for one in asked]
        body: Message = {**report.as_dict(), "workers": outcomes}
        return _http(200, body) if not _failed(outcomes, body) else _http(503, body)

    async def _ask_all(self, message: Message, *, notify_starting: bool = False) -> list[_Asked]:
        asked: list[_Asked | None] = [None] * len(self.links)

        async def ask(link: WorkerLink) -> None:
            asked[link.index] = await self._ask(link, message, notify_starting=notify_starting)

        async with trio.open_nursery() as nursery:
            for link in self.links:
                nursery.start_soon(ask, link)
        return [one for one in asked if one is not None]

    async def _ask(self, link: WorkerLink, message: Message, *, notify_starting: bool) -> _Asked:
        channel, state = link.channel, link.state
        if channel is None or state == "down":
            return _Asked(link, "down")
        try:
            if state == "starting":
                # It answers once it runs; what is in its channel now it reads before serving.
                if notify_starting:
                    await channel.notify(message)
                return _Asked(link, "starting")
            with trio.move_on_after(ANSWER_LIMIT_S):
                return _Asked(link, state, body=await channel.call(message))
            return _Asked(link, state, error=f"no answer within {ANSWER_LIMIT_S:.0f} s")
        except ControlChannelClosedError:
            return _Asked(link, "down")
        except ControlCallFailedError as exc:
            return _Asked(link, state, error=str(exc))


def _entry(one: _Asked) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "index": one.link.index,
        "pid": one.link.pid,
        "state": one.state,
        "process_restarts": one.link.process_restarts,
    }
    if one.body is None:
        entry["error"] = one.error or (
            "starting" if one.state == "starting" else "not running (being restarted)"
        )
    return entry


def _outcome(one: _Asked, *, at_start: str) -> dict[str, Any]:
    outcome: dict[str, Any] = {"index": one.link.index, "pid": one.link.pid}
    if one.error is not None:
        outcome.update(outcome="failed", error=one.error)
    elif one.state == "starting":
        outcome.update(outcome="starting", note=f"it is starting: {at_start}")
    elif one.state == "down":
        outcome.update(outcome="restarting", note=f"it is being restarted: {at_start}")
    else:
        outcome["outcome"] = "applied"
    return outcome


def _failed(outcomes: list[dict[str, Any]], body: Message) -> bool:
    failed = [o for o in outcomes if o["outcome"] == "failed"]
    if failed:
        body["error"] = "not confirmed by " + "; ".join(
            f"worker {o['index']}: {o['error']}" for o in failed
        )
    return bool(failed)


def _http(status: int, body: Message) -> Message:
    return {"status": status, "body": body}
