"""Every failure of the OpenAI-compatible API as OpenAI error JSON with the right HTTP status."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipe_service.admission.gate import ServerBusyError
from pipe_service.admission.user_breaker import UserThrottledError
from pipe_service.catalog.actor import CatalogUnavailableError
from pipe_service.catalog.registry import UnknownModelError
from pipe_service.chat.error_messages import LocalErrorKind
from pipe_service.chat.failure import TurnFailure
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


def api_error_for(exc: BaseException, *, failure: TurnFailure | None = None) -> ApiError:
    """Map a failure to the OpenAI error it should be for clients; ``failure`` is the error
    value the turn minted for ``exc`` (its id is the one in the log)."""
    if isinstance(exc, RequestTransformError):
        return ApiError(400, str(exc), "invalid_request", param=exc.field)
    if isinstance(exc, UnknownModelError):
        return ApiError(404, str(exc), "model_not_found", param="model")
    if isinstance(exc, CatalogUnavailableError):
        return ApiError(
            503, str(exc), "catalog_unavailable", headers={"Retry-After": str(exc.retry_after_s)}
        )
    if isinstance(exc, UserThrottledError):
        return ApiError(
            429, f"slow down: {exc}", "slow_down", headers={"Retry-After": str(exc.retry_after_s)}
        )
    if isinstance(exc, ServerBusyError):
        return ApiError(
            503, str(exc), "server_busy", headers={"Retry-After": str(exc.retry_after_s)}
        )
    if isinstance(exc, UpstreamError):
        return _upstream_api_error(exc)
    if isinstance(exc, ValueError):
        return ApiError(400, str(exc), "invalid_request")
    if failure is not None:
        return api_error_for_failure(failure)
    return ApiError(500, "internal error", "internal_error")


def api_error_for_failure(failure: TurnFailure) -> ApiError:
    """The OpenAI error for a turn's failure value (a stream that failed before any text)."""
    if isinstance(failure, UpstreamError):
        return _upstream_api_error(failure)
    with_id = f"{failure.message or failure.kind.value} (error id {failure.error_id})"
    if failure.kind is LocalErrorKind.BUSY:
        retry = str(max(1, round(failure.retry_after_s or 1)))
        return ApiError(503, with_id, "server_busy", headers={"Retry-After": retry})
    if failure.kind is LocalErrorKind.SLOW_DOWN:
        retry = str(max(1, round(failure.retry_after_s or 1)))
        return ApiError(429, with_id, "slow_down", headers={"Retry-After": retry})
    if failure.kind is LocalErrorKind.SHUTTING_DOWN:
        return ApiError(
            503,
            f"the sidecar is restarting (error id {failure.error_id})",
            "shutting_down",
            headers={"Retry-After": "5"},
        )
    if failure.kind is LocalErrorKind.INVALID_REQUEST:
        return ApiError(400, failure.message, "invalid_request")
    if failure.kind is LocalErrorKind.TOOL_HOST_GONE:
        return ApiError(502, with_id, "tool_host_gone")
    return ApiError(500, f"internal error (error id {failure.error_id})", "internal_error")


def _upstream_api_error(exc: UpstreamError) -> ApiError:
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
