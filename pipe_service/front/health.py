"""Liveness, readiness and status routes.

``/healthz`` answers as long as the process serves HTTP. ``/readyz`` answers 200 only when every
readiness check passes (upstream catalog loaded, storage answering). ``/status`` is the operator's
view: actors with their statistics, restarts, uptime, and which upstream is in use.
"""

from __future__ import annotations

import os
import time

from quart import Blueprint, Response, current_app, jsonify

from pipe_service import __version__
from pipe_service.context import ServiceContext

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
    context = _context()
    supervisor = context.supervisor
    actors = [stats.as_dict() for stats in supervisor.statistics()]
    return jsonify(
        {
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
    )
