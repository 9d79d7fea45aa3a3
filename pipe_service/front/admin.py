"""Operator endpoints: refresh the catalog, change settings at run time, reload the
configuration, and (only when enabled) inject actor faults.

With several workers (``serve --workers N``) a change must reach every worker, not just the one
whose connection received it: settings, reload and the catalog refresh go to the supervisor
process, which applies them to every worker and answers with each worker's outcome
(:mod:`pipe_service.workers.admin_hub`). Fault injection stays with the worker that answered.

Fault injection exists for drills and tests of the supervisor's restart path on a real process;
it is off unless ``fault_injection`` is set. Who may call them is decided before any route
(:mod:`pipe_service.front.auth`).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import trio
from quart import Blueprint, Response, current_app, jsonify, request

from pipe_service.catalog.actor import Catalog, CatalogUnavailableError, InjectFault
from pipe_service.catalog.capabilities import ModelCapabilities
from pipe_service.config import ConfigError
from pipe_service.context import ServiceContext
from pipe_service.workers.control import ControlCallFailedError, ControlChannelClosedError
from pipe_service.workers.supervisor_link import FORWARD_LIMIT_S

admin = Blueprint("admin", __name__)


def _context() -> ServiceContext:
    context: ServiceContext = current_app.config["SERVICE_CONTEXT"]
    return context


def _catalog() -> Catalog | None:
    catalog: Catalog | None = current_app.config.get("CATALOG")
    return catalog


async def _through_supervisor(
    context: ServiceContext, call: dict[str, Any]
) -> tuple[Response, int]:
    """Forward an operator call to the supervisor process; its answer for every worker."""
    assert context.control is not None
    try:
        with trio.fail_after(FORWARD_LIMIT_S):
            reply = await context.control.call(call)
    except trio.TooSlowError:
        error = f"the supervisor process did not answer within {FORWARD_LIMIT_S:.0f} s"
        return jsonify({"error": error}), 504
    except (ControlChannelClosedError, ControlCallFailedError) as exc:
        return jsonify({"error": f"the supervisor process could not be asked: {exc}"}), 503
    return jsonify(reply["body"]), int(reply["status"])


@admin.post("/admin/catalog/refresh")
async def refresh_catalog() -> tuple[Response, int]:
    context = _context()
    if context.control is not None:
        return await _through_supervisor(context, {"op": "refresh_catalog"})
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


@admin.post("/admin/settings")
async def set_setting() -> tuple[Response, int]:
    """``{"key": "admission.slots", "value": "8"}``: one setting, as its env variable would
    set it; answers what was applied, or 400 naming the problem (nothing changed)."""
    context = _context()
    if context.live is None:
        return jsonify({"error": "run-time settings are not available in this process"}), 404
    body = await request.get_json(force=True, silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("key"), str):
        return jsonify({"error": 'expected {"key": "section.field", "value": "text"}'}), 400
    value = body.get("value")
    raw = value if isinstance(value, str) else json.dumps(value)
    if context.control is not None:
        return await _through_supervisor(context, {"op": "set", "key": body["key"], "value": raw})
    try:
        report = context.live.set_value(body["key"], raw)
    except (ConfigError, ValueError) as exc:
        return jsonify({"error": str(exc)}), 400
    return jsonify(report.as_dict()), 200


@admin.post("/admin/reload")
async def reload_settings() -> tuple[Response, int]:
    """Read the TOML file and environment again (like SIGHUP) and apply what can change."""
    context = _context()
    if context.control is not None:
        return await _through_supervisor(context, {"op": "reload"})
    if context.live is None:
        return jsonify({"error": "run-time settings are not available in this process"}), 404
    try:
        report = context.live.reload()
    except (ConfigError, ValueError) as exc:
        return jsonify({"error": str(exc)}), 400
    return jsonify(report.as_dict()), 200


@admin.get("/admin/models")
async def list_models_with_capabilities() -> tuple[Response, int]:
    """The offered catalog with what each model can do (``pipe-service models``)."""
    catalog = _catalog()
    if catalog is None:
        return jsonify({"error": "no catalog in this process"}), 404
    try:
        registry = catalog.current()
    except CatalogUnavailableError as exc:
        return jsonify({"error": str(exc)}), 503
    return jsonify({"data": [_model_row(model) for model in registry.list()]}), 200


def _model_row(model: ModelCapabilities) -> dict[str, object]:
    def per_million(price: Decimal | None) -> float | None:
        return None if price is None else float(price * 1_000_000)

    return {
        "id": model.slug,
        "name": model.name,
        "context_length": model.context_length,
        "reasoning": model.reasoning,
        "tools": model.tools,
        "vision": model.input_image,
        "files": model.input_file,
        "web_search": model.web_search,
        "structured_outputs": model.structured_outputs,
        "image_output": model.output_image,
        "free": model.is_free,
        "prompt_usd_per_mtok": per_million(model.pricing.prompt),
        "completion_usd_per_mtok": per_million(model.pricing.completion),
    }
