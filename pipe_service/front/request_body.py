"""Read an HTTP request body against a size cap and the byte budget, then parse it strictly.

The order matters for memory: the declared ``Content-Length`` is checked against the cap and
reserved from the :class:`ByteBudget` before a byte is read, so an over-size or over-budget body
is answered (413 / 503) at once; a chunked body grows its reservation as it arrives. Chunks are
appended to one buffer (Quart's own buffer is drained as we go), and parsing only starts once
the whole body is in and accounted for.

Synopsis::

    try:
        body, reservation = await read_json_body(request, limits=limits, budget=budget)
    except BodyRefusedError as refused:
        return error_response(refused.error)
    with reservation:
        ...serve...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import trio
from quart.wrappers import Request
from werkzeug.exceptions import RequestEntityTooLarge

from pipe_service.admission.byte_budget import ByteBudget, ByteReservation
from pipe_service.front.openai_errors import ApiError
from pipe_service.strict_json import UnacceptableJsonError, loads_strict


@dataclass(frozen=True, slots=True)
class BodyLimits:
    max_bytes: int
    read_timeout_s: float
    busy_retry_after_s: int


class BodyRefusedError(Exception):
    """The body cannot be taken; ``error`` is the OpenAI-shaped answer."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.error = error


def _too_large(limits: BodyLimits) -> BodyRefusedError:
    return BodyRefusedError(
        ApiError(413, f"the request body exceeds {limits.max_bytes} bytes", "payload_too_large")
    )


def _over_budget(limits: BodyLimits) -> BodyRefusedError:
    return BodyRefusedError(
        ApiError(
            503,
            "server busy: too many request bytes in flight; try again shortly",
            "server_busy",
            headers={"Retry-After": str(limits.busy_retry_after_s)},
        )
    )


async def read_json_body(
    request: Request, *, limits: BodyLimits, budget: ByteBudget
) -> tuple[Any, ByteReservation]:
    """The parsed body and the reservation holding its bytes (the caller releases it)."""
    declared = request.content_length
    if declared is not None and declared > limits.max_bytes:
        raise _too_large(limits)
    reservation = budget.try_reserve(declared or 0)
    if reservation is None:
        raise _over_budget(limits)
    try:
        raw = await _read(request, reservation, limits)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BodyRefusedError(
                ApiError(400, "request body: not valid UTF-8", "invalid_json")
            ) from None
        # The bytes are not needed once decoded: free them before the parse allocates its own.
        raw.clear()
        try:
            body = loads_strict(text)
        except UnacceptableJsonError as exc:
            raise BodyRefusedError(ApiError(400, f"request body: {exc}", "invalid_json")) from None
    except BaseException:
        reservation.release()
        raise
    return body, reservation


async def _read(request: Request, reservation: ByteReservation, limits: BodyLimits) -> bytearray:
    raw = bytearray()
    with trio.move_on_after(limits.read_timeout_s):
        try:
            async for chunk in request.body:
                size = len(raw) + len(chunk)
                if size > limits.max_bytes:
                    raise _too_large(limits)
                if size > reservation.size and not reservation.try_grow(size - reservation.size):
                    raise _over_budget(limits)
                raw += chunk
        except RequestEntityTooLarge:
            raise _too_large(limits) from None
        return raw
    raise BodyRefusedError(
        ApiError(
            408, f"the request body did not arrive within {limits.read_timeout_s:g} s", "timeout"
        )
    )
