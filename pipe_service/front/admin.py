"""Operator endpoints: refresh the catalog now, and (only when enabled) inject actor faults.

Fault injection exists for drills and tests of the supervisor's restart path on a real process;
it is off unless ``fault_injection`` is set. Who may call them is decided before any route
(:mod:`pipe_service.front.auth`).
"""

from __future__ import annotations

from quart import Blueprint, Response, current_app, jsonify

from pipe_service.catalog.actor import Catalog, InjectFault
from pipe_service.context import ServiceContext

admin = Blueprint("admin", __name__)


def _context() -> ServiceContext:
    context: ServiceContext = current_app.config["SERVICE_CONTEXT"]
    return context


def _catalog() -> Catalog | None:
    catalog: Catalog | None = current_app.config.get("CATALOG")
    return catalog


@admin.post("/admin/catalog/refresh")
async def refresh_catalog() -> tuple[Response, int]:
    catalog = _catalog()
    if catalog is None:
        return jsonify({"error": "no catalog in this process"}), 404
    queued = catalog.request_refresh()
    return jsonify({"refresh": "queued" if queued else "already pending"}), 202


@admin.post("/admin/fault/<actor>")
async def inject_fault(actor: str) -> tuple[Response, int]:
    context = _context()
    if not context.settings.fault_injection:
        return jsonify({"error": "fault injection is disabled"}), 404
    catalog = _catalog()
    if actor != "catalog" or catalog is None:
        return jsonify({"error": f"no fault injection for actor {actor!r}"}), 404
    catalog.inbox.send_nowait(InjectFault())
    return jsonify({"injected": actor}), 202
