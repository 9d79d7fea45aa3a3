"""Liveness, readiness and status routes.

``/healthz`` answers as long as the process serves HTTP. ``/readyz`` answers 200 only when every
readiness check passes (upstream catalog loaded, storage answering). ``/status`` is the operator's
view: actors with their statistics, restarts, uptime, and which upstream is in use; with several
workers, every worker's (``workers``), whichever worker answered.
"""

from __future__ import annotations

import os
import time

import trio
from quart import Blueprint, Response, current_app, jsonify

from pipe_service import __version__
from pipe_service.context import ServiceContext
from pipe_service.workers.control import ControlCallFailedError, ControlChannelClosedError
from pipe_service.workers.supervisor_link import FORWARD_LIMIT_S

health = Blueprint("health", __name__)

_PROCESS_STARTED = time.time()


def _context() -> ServiceContext:
    context: ServiceContext = current_app.config["SERVICE_CONTEXT"]
    return context


@health.get("/healthz")
async def healthz() -> Response:
    return jsonify({"status": "ok"})


@health.get("/readyz")
async def readyz() -> tuple[Response, int]:
    checks = await _context().readiness()
    ready = all(reason is None for reason in checks.values())
    body = {
        "ready": ready,
        "checks": {name: ("ok" if reason is None else reason) for name, reason in checks.items()},
    }
    return jsonify(body), 200 if ready else 503


@health.get("/status")
async def status() -> Response:
    """This process's status; with several workers also ``supervisor`` and every worker's
    status under ``workers`` (gathered through the supervisor process)."""
    context = _context()
    body = status_body(context)
    if context.control is not None:
        body.update(await _fleet_status(context))
    return jsonify(body)


def status_body(context: ServiceContext) -> dict[str, object]:
    """The ``/status`` of this process alone."""
    supervisor = context.supervisor
    actors = [stats.as_dict() for stats in supervisor.statistics()]
    return {
        "version": __version__,
        "pid": os.getpid(),
        "started_at": _PROCESS_STARTED,
        "uptime_s": round(supervisor.uptime_s, 3),
        "shutting_down": supervisor.shutdown_reason is not None,
        "upstream": {
            "mode": context.upstream_mode,
            "base_url": context.upstream_base_url,
        },
        "actors": actors,
        "restarts_total": sum(stats.restarts for stats in supervisor.statistics()),
        **context.status_details(),
    }


async def _fleet_status(context: ServiceContext) -> dict[str, object]:
    assert context.control is not None
    try:
        with trio.fail_after(FORWARD_LIMIT_S):
            return await context.control.call({"op": "status"})
    except trio.TooSlowError:
        error = f"the supervisor process did not answer within {FORWARD_LIMIT_S:.0f} s"
    except (ControlChannelClosedError, ControlCallFailedError) as exc:
        error = f"the supervisor process could not be asked: {exc}"
    return {"workers_error": error}
