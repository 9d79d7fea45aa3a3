"""Framework errors as OpenAI-shaped JSON, never HTML.

Quart answers an unknown path (404), a wrong method (405), a body that does not arrive in time
(408), an over-size body (413) and an unhandled exception (500) with HTML pages of its own. Every
client of this front speaks JSON (the shim, OpenAI SDKs, probes), so each such answer is turned
into the same error object the OpenAI API uses: ``{"error": {message, type, param, code}}``.
"""

from __future__ import annotations

import json
import logging
import secrets

from quart import Response
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from pipe_service.front.openai_errors import ApiError

logger = logging.getLogger("pipe_service.front.http_errors")

_CODES: dict[int, str] = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    408: "timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_response(error: ApiError) -> Response:
    """``error`` as a JSON response with its status and headers."""
    response = Response(
        json.dumps(error.body()), status=error.status, content_type="application/json"
    )
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


def install_json_errors(app: QuartTrio) -> None:
    """Register the JSON handlers on ``app`` (all HTTP errors and unhandled exceptions)."""

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        message = (error.description or error.name or "error").strip()
        response = error_response(ApiError(status, message, _CODES.get(status, "http_error")))
        if status == 405 and error.get_headers():
            for name, value in error.get_headers():
                if name.lower() == "allow":
                    response.headers["Allow"] = value
        return response

    @app.errorhandler(Exception)
    async def unhandled(error: Exception) -> Response:
        error_id = f"err_{secrets.token_hex(4)}"
        logger.error("request failed", extra={"error_id": error_id}, exc_info=error)
        return error_response(
            ApiError(500, f"internal error (error id {error_id})", "internal_error")
        )
