"""Every failure of the OpenAI-compatible API as OpenAI error JSON with the right HTTP status."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipe_service.admission.actor import ServerBusyError
from pipe_service.admission.user_breaker import UserThrottledError
from pipe_service.catalog.actor import CatalogUnavailableError
from pipe_service.catalog.registry import UnknownModelError
from pipe_service.openrouter.errors import UpstreamError, UpstreamErrorKind
from pipe_service.transform.errors import RequestTransformError

_KIND_STATUS: dict[UpstreamErrorKind, int] = {
    UpstreamErrorKind.BAD_REQUEST: 400,
    UpstreamErrorKind.UNAUTHORIZED: 401,
    UpstreamErrorKind.PAYMENT_REQUIRED: 402,
    UpstreamErrorKind.FORBIDDEN: 403,
    UpstreamErrorKind.NOT_FOUND: 404,
    UpstreamErrorKind.TIMEOUT: 408,
    UpstreamErrorKind.PAYLOAD_TOO_LARGE: 413,
    UpstreamErrorKind.RATE_LIMITED: 429,
    UpstreamErrorKind.SERVER_ERROR: 502,
    UpstreamErrorKind.NETWORK: 502,
    UpstreamErrorKind.STREAM_FAILED: 502,
    UpstreamErrorKind.STREAM_INCOMPLETE: 502,
    UpstreamErrorKind.STALLED: 504,
}

_STATUS_TYPE: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


@dataclass(frozen=True)
class ApiError:
    status: int
    message: str
    code: str
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, object]:
        return {
            "error": {
                "message": self.message,
                "type": _STATUS_TYPE.get(self.status, "api_error"),
                "param": self.param,
                "code": self.code,
            }
        }


def api_error_for(exc: BaseException) -> ApiError:
    """Map a failure to the OpenAI error it should be for clients."""
    if isinstance(exc, RequestTransformError):
        return ApiError(400, str(exc), "invalid_request", param=exc.field)
    if isinstance(exc, UnknownModelError):
        return ApiError(404, str(exc), "model_not_found", param="model")
    if isinstance(exc, CatalogUnavailableError):
        return ApiError(503, str(exc), "catalog_unavailable", headers={"Retry-After": "5"})
    if isinstance(exc, UserThrottledError):
        return ApiError(
            429, f"slow down: {exc}", "slow_down", headers={"Retry-After": str(exc.retry_after_s)}
        )
    if isinstance(exc, ServerBusyError):
        return ApiError(
            503, str(exc), "server_busy", headers={"Retry-After": str(exc.retry_after_s)}
        )
    if isinstance(exc, UpstreamError):
        status = exc.status if exc.status and 400 <= exc.status < 600 else _KIND_STATUS[exc.kind]
        headers = {}
        if exc.retry_after_s is not None:
            headers["Retry-After"] = str(max(1, round(exc.retry_after_s)))
        return ApiError(
            status,
            f"{exc.message} (error id {exc.error_id})",
            exc.kind.value,
            headers=headers,
        )
    if isinstance(exc, ValueError):
        return ApiError(400, str(exc), "invalid_request")
    return ApiError(500, "internal error", "internal_error")
