"""The sidecar's HTTP front: a quart-trio app assembled from one blueprint per concern."""

from __future__ import annotations

from quart_trio import QuartTrio

from pipe_service.admission.byte_budget import ByteBudget
from pipe_service.catalog.actor import Catalog
from pipe_service.chat.gateway import ChatGateway
from pipe_service.config.settings import is_loopback
from pipe_service.context import ServiceContext
from pipe_service.front.admin import admin
from pipe_service.front.auth import (
    TcpAccess,
    refuse_unauthorized_request,
    refuse_unauthorized_websocket,
)
from pipe_service.front.health import health
from pipe_service.front.http_errors import install_json_errors
from pipe_service.front.metrics import build_registry, metrics
from pipe_service.front.openai_api import openai_api
from pipe_service.front.pipe.ws import pipe_ws
from pipe_service.front.responses_api import responses_api


def create_front_app(
    context: ServiceContext,
    *,
    gateway: ChatGateway | None = None,
    catalog: Catalog | None = None,
    tcp_access: TcpAccess | None = None,
    byte_budget: ByteBudget | None = None,
) -> QuartTrio:
    """Build the front app for ``context``.

    ``tcp_access`` defaults to the configured token (none: every TCP route but a loopback
    ``/healthz`` is refused); ``byte_budget`` to a fresh one of the configured size.

    Synopsis::

        app = create_front_app(context)
        await nursery.start(serve_front, app, context.settings, supervisor.wait_shutdown_requested)
    """
    app = QuartTrio("pipe_service")
    # Quart cuts any response after 60 s by default; chat streams run longer than that.
    app.config["RESPONSE_TIMEOUT"] = None
    app.config["BODY_TIMEOUT"] = 60
    app.config["MAX_CONTENT_LENGTH"] = 32 * 1024 * 1024
    app.config["SERVICE_CONTEXT"] = context
    app.config["METRICS_REGISTRY"] = build_registry(context)
    app.config["CHAT_GATEWAY"] = gateway
    app.config["CATALOG"] = catalog
    settings = context.settings
    app.config["TCP_ACCESS"] = tcp_access or TcpAccess(
        token=settings.api_token, loopback=is_loopback(settings.host)
    )
    app.config["BYTE_BUDGET"] = byte_budget or ByteBudget(
        settings.admission.max_request_bytes_in_flight
    )
    # Access is decided before any route (and before a 404), so nothing is reachable by mistake.
    app.before_request(refuse_unauthorized_request)
    app.before_websocket(refuse_unauthorized_websocket)
    install_json_errors(app)
    app.register_blueprint(health)
    app.register_blueprint(metrics)
    app.register_blueprint(openai_api)
    app.register_blueprint(responses_api)
    app.register_blueprint(admin)
    app.register_blueprint(pipe_ws)
    return app
