"""The body of a successful streaming ``POST /responses``, as raw bytes.

An :class:`UpstreamStream` is handed out only after OpenRouter answered 200;
from then on nothing is retried. It does not decode SSE (that is
``pipe_service.openrouter.sse``); it yields the raw chunks and turns transport
failures into :class:`UpstreamError` values: a dropped connection becomes
``network``. Silence is the consumer's to bound (``chat.upstream_relay``: one deadline per
stream, moved on progress, against :attr:`UpstreamStream.last_byte_at`); reads carry no
per-read timeout.

Synopsis::

    async with client.stream_responses(payload) as stream:
        log.info("generation %s", stream.generation_id)
        async for chunk in stream.aiter_bytes():
            feed_sse_parser(chunk)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import trio

from pipe_service.openrouter.errors import UpstreamError, classify_transport_error

__all__ = ["FINISH_GRACE_S", "UpstreamStream", "finish_body_iterator"]

FINISH_GRACE_S = 1.0
"""Bound on unwinding an abandoned body iterator (it fails on its first step)."""


async def finish_body_iterator(chunks: AsyncIterator[bytes]) -> None:
    """Unwind an httpx body iterator left mid-way, after its response was closed.

    httpx builds body iterators from nested async generators that never close
    their inner generators, so abandoning one (an early exit, a cancelled
    stream, a capped error body) leaves suspended generators that trio reports
    as ``ResourceWarning`` when they are collected. Once the response is
    closed, one more step fails at the innermost read, and that error unwinds,
    and so finishes, every generator in the chain.
    """
    with trio.move_on_after(FINISH_GRACE_S, shield=True):
        try:
            while True:
                await chunks.__anext__()
        except (StopAsyncIteration, httpx.HTTPError, httpx.StreamError):
            return  # the expected ways for a closed body to end


class _MappedByteIterator:
    """Wraps httpx's chunk iterator so transport errors surface as UpstreamError."""

    def __init__(
        self,
        inner: AsyncIterator[bytes],
        stream: UpstreamStream,
    ) -> None:
        self.inner = inner
        self._stream = stream

    def __aiter__(self) -> _MappedByteIterator:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = await self.inner.__anext__()
        except httpx.HTTPError as exc:
            err = classify_transport_error(exc, mid_stream=True)
            self._stream.report_error(err)
            raise err from exc
        self._stream.bytes_received += len(chunk)
        self._stream.last_byte_at = trio.current_time()
        return chunk


class UpstreamStream:
    """A 200 response being streamed; owned by ``OpenRouterClient.stream_responses``.

    **Resource handling:** the client's context manager closes the response on
    exit; when that exit is a cancellation the connection is closed rather than
    returned to the pool, so OpenRouter sees the abort and stops generating.
    """

    def __init__(
        self,
        response: httpx.Response,
        *,
        attempts: int,
        on_error: Callable[[UpstreamError], None],
    ) -> None:
        self._response = response
        self._on_error = on_error
        self._iterator: _MappedByteIterator | None = None
        self.attempts = attempts
        """How many HTTP attempts it took to get this 200 (1 = no retry)."""
        self.bytes_received = 0
        self.last_byte_at = trio.current_time()
        """When the last body byte (keep-alive comments included) arrived, on trio's clock."""

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def generation_id(self) -> str | None:
        """OpenRouter's ``X-Generation-Id`` header (the ``gen-…`` id), if sent."""
        value: str | None = self._response.headers.get("x-generation-id")
        return value

    @property
    def headers(self) -> httpx.Headers:
        return self._response.headers

    def aiter_bytes(self) -> AsyncIterator[bytes]:
        """Iterate over the raw body chunks; may be called once."""
        if self._iterator is not None:
            raise RuntimeError("UpstreamStream.aiter_bytes() may only be called once")
        self._iterator = _MappedByteIterator(self._response.aiter_bytes(), self)
        return self._iterator

    async def finish(self) -> None:
        """Unwind the body iterator after the response was closed (see above)."""
        if self._iterator is not None:
            await finish_body_iterator(self._iterator.inner)

    def report_error(self, err: UpstreamError) -> None:
        """Count a mid-stream failure in the client's statistics."""
        self._on_error(err)
