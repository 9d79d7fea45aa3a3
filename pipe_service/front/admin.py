"""Operator endpoints: refresh the catalog, change settings at run time, reload the
configuration, and (only when enabled) inject actor faults.

Fault injection exists for drills and tests of the supervisor's restart path on a real process;
it is off unless ``fault_injection`` is set, and then it answers only authorized callers.
"""

from __future__ import annotations

import json

from quart import Blueprint, Response, current_app, jsonify, request

from pipe_service.catalog.actor import Catalog, InjectFault
from pipe_service.config import ConfigError
from pipe_service.context import ServiceContext
from pipe_service.front.auth import is_authorized

admin = Blueprint("admin", __name__)


def _context() -> ServiceContext:
    context: ServiceContext = current_app.config["SERVICE_CONTEXT"]
    return context


def _catalog() -> Catalog | None:
    catalog: Catalog | None = current_app.config.get("CATALOG")
    return catalog


@admin.post("/admin/catalog/refresh")
async def refresh_catalog() -> tuple[Response, int]:
    if not is_authorized(request, _context().settings):
        return jsonify({"error": "unauthorized"}), 401
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
    if not is_authorized(request, context.settings):
        return jsonify({"error": "unauthorized"}), 401
    catalog = _catalog()
    if actor != "catalog" or catalog is None:
        return jsonify({"error": f"no fault injection for actor {actor!r}"}), 404
    catalog.inbox.send_nowait(InjectFault())
    return jsonify({"injected": actor}), 202


@admin.post("/admin/settings")
async def set_setting() -> tuple[Response, int]:
    """``{"key": "admission.slots", "value": "8"}``: one setting, as its env variable would
    set it; answers what was applied, or 400 naming the problem (nothing changed)."""
    context = _context()
    if not is_authorized(request, context.settings):
        return jsonify({"error": "unauthorized"}), 401
    if context.live is None:
        return jsonify({"error": "run-time settings are not available in this process"}), 404
    body = await request.get_json(force=True, silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("key"), str):
        return jsonify({"error": 'expected {"key": "section.field", "value": "text"}'}), 400
    value = body.get("value")
    raw = value if isinstance(value, str) else json.dumps(value)
    try:
        report = context.live.set_value(body["key"], raw)
    except (ConfigError, ValueError) as exc:
        return jsonify({"error": str(exc)}), 400
    return jsonify(report.as_dict()), 200


@admin.post("/admin/reload")
async def reload_settings() -> tuple[Response, int]:
    """Read the TOML file and environment again (like SIGHUP) and apply what can change."""
    context = _context()
    if not is_authorized(request, context.settings):
        return jsonify({"error": "unauthorized"}), 401
    if context.live is None:
        return jsonify({"error": "run-time settings are not available in this process"}), 404
    try:
        report = context.live.reload()
    except (ConfigError, ValueError) as exc:
        return jsonify({"error": str(exc)}), 400
    return jsonify(report.as_dict()), 200
