"""One error value per failure: minted where the failure happens, carried to the renderer, logged
once.

A turn fails in one of a few places — the upstream call (:class:`UpstreamError`), the upstream
stream's own ``response.failed``/``error`` events, the gateway (busy, the shutdown cut, a crash),
or the request transform. Each of those builds one :data:`TurnFailure` *there*, with its error id,
status, ``retry_after_s`` and provider; the :class:`~pipe_service.chat.events.Failed` event or
:class:`~pipe_service.chat.turn_request.TurnError` carries it unchanged to whichever renderer
serves the request (shim frames or OpenAI JSON/SSE), so the id a user sees is the id in the log.

Synopsis::

    failure = failure_for_code(code, message, error_type)   # a stream's Failed event
    failure = failure_for_exception(exc)                     # a TurnError
    log_failure(failure, request_id=..., identity=..., model=..., stage="before output")
"""

from __future__ import annotations

import logging
from typing import Final

from pipe_service.admission.gate import ServerBusyError
from pipe_service.admission.user_breaker import UserThrottledError
from pipe_service.chat.error_messages import LocalError, LocalErrorKind
from pipe_service.openrouter.errors import UpstreamError, UpstreamErrorKind
from pipe_service.transform.options import RequestIdentity

__all__ = [
    "INTERNAL_ERROR",
    "SHUTTING_DOWN",
    "STREAM_ENDED_WITHOUT_COMPLETION",
    "TOOL_HOST_GONE",
    "TurnFailure",
    "failure_for_code",
    "failure_for_exception",
    "log_failure",
]

logger = logging.getLogger("pipe_service.chat.failure")

TurnFailure = UpstreamError | LocalError
"""What a renderer needs to show a failure: kind, wording inputs, status, retry-after, id."""

SHUTTING_DOWN: Final = "shutting_down"
"""``Failed.code`` of a turn cut because the sidecar is stopping."""
INTERNAL_ERROR: Final = "internal_error"
"""``Failed.code`` of a turn that crashed (a bug in the gateway)."""
TOOL_HOST_GONE: Final = "tool_executor_gone"
"""``Failed.code`` of a tool loop whose tool host (Open WebUI) went away."""
STREAM_ENDED_WITHOUT_COMPLETION: Final = "stream_ended_without_completion"

_LOCAL_CODES: Final = {
    SHUTTING_DOWN: LocalErrorKind.SHUTTING_DOWN,
    INTERNAL_ERROR: LocalErrorKind.INTERNAL,
    TOOL_HOST_GONE: LocalErrorKind.TOOL_HOST_GONE,
}

_ROUTINE_KINDS: Final = frozenset(
    {LocalErrorKind.BUSY, LocalErrorKind.SLOW_DOWN, LocalErrorKind.INVALID_REQUEST}
)
"""Refusals that are part of normal operation: logged at INFO."""

_MID_STREAM_KINDS: Final = frozenset(
    {
        UpstreamErrorKind.NETWORK,
        UpstreamErrorKind.STALLED,
        UpstreamErrorKind.TIMEOUT,
        UpstreamErrorKind.STREAM_INCOMPLETE,
    }
)


def failure_for_code(code: str, message: str, error_type: str | None) -> TurnFailure:
    """The failure a mid-stream ``Failed`` event stands for.

    The gateway's own codes are local failures; transport failures keep their kind; a stream
    that ended without completion is incomplete; everything the upstream reported itself
    (``response.failed``, ``error`` events) is a stream failure whatever code it carried.
    """
    local = _LOCAL_CODES.get(code)
    if local is not None:
        return LocalError(local, message)
    try:
        kind = UpstreamErrorKind(code)
    except ValueError:
        kind = UpstreamErrorKind.STREAM_FAILED
    if code == STREAM_ENDED_WITHOUT_COMPLETION:
        kind = UpstreamErrorKind.STREAM_INCOMPLETE
    elif kind not in _MID_STREAM_KINDS:
        kind = UpstreamErrorKind.STREAM_FAILED
    return UpstreamError(kind, message, code=code, error_type=error_type)


def failure_for_exception(exc: BaseException) -> TurnFailure:
    """The failure for an error raised before any output."""
    if isinstance(exc, UpstreamError):
        return exc
    if isinstance(exc, ServerBusyError):
        return LocalError(LocalErrorKind.BUSY, retry_after_s=float(exc.retry_after_s))
    if isinstance(exc, UserThrottledError):
        return LocalError(LocalErrorKind.SLOW_DOWN, retry_after_s=float(exc.retry_after_s))
    if isinstance(exc, ValueError):  # RequestTransformError names the body field at fault
        return LocalError(LocalErrorKind.INVALID_REQUEST, str(exc))
    return LocalError(LocalErrorKind.INTERNAL)


def log_failure(
    failure: TurnFailure,
    *,
    request_id: str,
    identity: RequestIdentity | None,
    model: str,
    stage: str,
    exc_info: BaseException | None = None,
) -> None:
    """Log one failure once, with the ids an operator searches by (never a payload);
    ``exc_info``: the traceback of a crash."""
    user_id = identity.user_id if identity is not None else None
    chat_id = identity.chat_id if identity is not None else None
    status = failure.status if isinstance(failure, UpstreamError) else None
    provider = failure.provider_name if isinstance(failure, UpstreamError) else None
    level = logging.ERROR if failure.kind is LocalErrorKind.INTERNAL else logging.WARNING
    if failure.kind in _ROUTINE_KINDS:
        level = logging.INFO
    logger.log(
        level,
        "turn failed %s: kind=%s status=%s error_id=%s request_id=%s user_id=%s chat_id=%s "
        "model=%s",
        stage,
        failure.kind.value,
        status,
        failure.error_id,
        request_id,
        user_id,
        chat_id,
        model,
        extra={
            "error_id": failure.error_id,
            "kind": failure.kind.value,
            "status": status,
            "provider": provider,
            "request_id": request_id,
            "user_id": user_id,
            "chat_id": chat_id,
            "model": model,
            "stage": stage,
        },
        exc_info=exc_info,
    )
