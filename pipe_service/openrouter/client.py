"""The OpenRouter HTTP client: sharded httpx pools, retries, 401 latch.

Synopsis::

    async with OpenRouterClient(UpstreamClientConfig(api_key=key)) as client:
        async with client.stream_responses(payload) as stream:
            async for chunk in stream.aiter_bytes():
                ...
        models = await client.list_models()

**Timeouts** come from the config (connect 5 s, read 300 s between bytes,
write 30 s, pool 30 s); callers bound whole operations with
``trio.fail_after``. **Retries** follow :class:`RetryPolicy` and happen only
before OpenRouter's 200; a stream handed out is never replayed.
**Resource handling:** ``async with`` opens and closes all shards; each
response is closed when its context exits, and on cancellation the
connection is dropped (not pooled) so OpenRouter aborts the generation.
**Keys:** a per-request ``api_key`` wins over ``config.api_key``; with
neither, calls that need a key fail locally with ``unauthorized`` ("no
OpenRouter API key configured") instead of spending a round trip on a 401.
Keys and payloads are never logged; ids, statuses and kinds are.
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import httpx
import trio

from pipe_service.openrouter.auth_latch import AuthLatch
from pipe_service.openrouter.client_config import UpstreamClientConfig
from pipe_service.openrouter.errors import (
    UpstreamError,
    UpstreamErrorKind,
    classify_http_error,
    classify_transport_error,
)
from pipe_service.openrouter.shards import CLOSE_GRACE_S, ShardPool
from pipe_service.openrouter.upstream_stream import UpstreamStream, finish_body_iterator

__all__ = ["OpenRouterClient", "UpstreamClientStatistics"]

log = logging.getLogger(__name__)

NO_KEY_MESSAGE = "no OpenRouter API key configured"


@dataclass(frozen=True)
class UpstreamClientStatistics:
    """A snapshot for ``/status`` and metrics."""

    requests: int  # HTTP attempts sent, retries included
    retries: int
    errors_by_kind: Mapping[str, int]  # errors surfaced to callers (after retries)
    status_codes: Mapping[int, int]  # HTTP status of every attempt that got an answer
    open_streams: int
    shard_in_flight: tuple[int, ...]
    latched_keys: int
    latch_fast_failures: int


def _attribution_headers(config: UpstreamClientConfig) -> dict[str, str]:
    headers: dict[str, str] = {}
    if config.http_referer:
        headers["HTTP-Referer"] = config.http_referer
    if config.x_title:
        headers["X-OpenRouter-Title"] = config.x_title
        headers["X-Title"] = config.x_title  # still read by OpenRouter; older name
    return headers


class OneChunkBody(httpx.AsyncByteStream):
    """A request body sent as one chunk by a plain iterator.

    httpx's own ``ByteStream.__aiter__`` is an async generator: a request cancelled while its
    body is being written leaves it suspended, to be finalised by the garbage collector (a
    ``ResourceWarning`` under trio, at a random later time). A plain iterator has nothing to
    finalise.
    """

    def __init__(self, body: bytes) -> None:
        self._body = body

    def __aiter__(self) -> _OneChunk:
        return _OneChunk(self._body)


class _OneChunk:
    def __init__(self, body: bytes) -> None:
        self._body: bytes | None = body

    def __aiter__(self) -> _OneChunk:
        return self

    async def __anext__(self) -> bytes:
        if self._body is None:
            raise StopAsyncIteration
        body, self._body = self._body, None
        return body


class OpenRouterClient:
    """Talks to OpenRouter's REST API; one instance per process."""

    def __init__(
        self,
        config: UpstreamClientConfig,
        *,
        rng: random.Random | None = None,
        unix_socket: str | None = None,
    ) -> None:
        """``unix_socket``: reach ``config.base_url`` over this Unix socket instead of TCP (the
        built-in simulator listens on a private socket in the var dir)."""
        self._config = config
        self._policy = config.retry_policy()
        self._rng = rng or random.Random()
        self._shards = ShardPool(config, _attribution_headers(config), unix_socket=unix_socket)
        self._latch = AuthLatch(
            threshold=config.auth_latch_threshold,
            window_s=config.auth_latch_window_s,
            latch_s=config.auth_latch_s,
        )
        self._requests = 0
        self._retries = 0
        self._errors: Counter[str] = Counter()
        self._status_codes: Counter[int] = Counter()
        self._open_streams = 0

    async def __aenter__(self) -> Self:
        self._shards.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every pooled connection; idempotent."""
        await self._shards.aclose()

    # -- public calls ---------------------------------------------------------------

    def stream_responses(
        self,
        payload: Mapping[str, Any],
        *,
        api_key: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AbstractAsyncContextManager[UpstreamStream]:
        """``POST /responses`` with ``stream: true``; enter to get the 200's stream.

        Raises :class:`UpstreamError` on entry when the request failed for good
        (after retries). Mid-body failures raise from ``aiter_bytes()``.
        """
        return self._stream_responses(payload, api_key=api_key, extra_headers=extra_headers)

    async def create_response(
        self,
        payload: Mapping[str, Any],
        *,
        api_key: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Non-streaming ``POST /responses``; returns the response object."""
        body = {**payload, "stream": False}
        return await self._request_json(
            "POST", "/responses", json_body=body, api_key=api_key, headers=extra_headers
        )

    async def list_models(self, *, api_key: str | None = None) -> dict[str, Any]:
        """``GET /models`` (public: a key is sent when one is known, not required)."""
        return await self._request_json("GET", "/models", api_key=api_key, key_required=False)

    async def get_generation(
        self, generation_id: str, *, api_key: str | None = None
    ) -> dict[str, Any]:
        """``GET /generation?id=…``: cost and token stats of one generation."""
        return await self._request_json(
            "GET", "/generation", params={"id": generation_id}, api_key=api_key
        )

    async def get_key(self, *, api_key: str | None = None) -> dict[str, Any]:
        """``GET /key``: label, limits and usage of the key in use."""
        return await self._request_json("GET", "/key", api_key=api_key)

    def statistics(self) -> UpstreamClientStatistics:
        latch = self._latch.statistics()
        return UpstreamClientStatistics(
            requests=self._requests,
            retries=self._retries,
            errors_by_kind=dict(self._errors),
            status_codes=dict(self._status_codes),
            open_streams=self._open_streams,
            shard_in_flight=self._shards.in_flight(),
            latched_keys=latch.latched_keys,
            latch_fast_failures=latch.fast_failures,
        )

    # -- internals ------------------------------------------------------------------

    def _count_error(self, err: UpstreamError) -> None:
        self._errors[err.kind.value] += 1

    def _resolve_key(self, api_key: str | None, *, required: bool) -> str | None:
        if api_key:
            return api_key
        if self._config.api_key is not None and self._config.api_key.get_secret_value():
            return self._config.api_key.get_secret_value()
        if required:
            err = UpstreamError(
                UpstreamErrorKind.UNAUTHORIZED, NO_KEY_MESSAGE, local=True, before_send=True
            )
            self._count_error(err)
            raise err
        return None

    @asynccontextmanager
    async def _stream_responses(
        self,
        payload: Mapping[str, Any],
        *,
        api_key: str | None,
        extra_headers: Mapping[str, str] | None,
    ) -> AsyncIterator[UpstreamStream]:
        body = {**payload, "stream": True}
        headers = {"Accept": "text/event-stream", **(extra_headers or {})}
        async with self._open_response(
            "POST", "/responses", json_body=body, headers=headers, api_key=api_key
        ) as (response, attempts):
            stream = UpstreamStream(response, attempts=attempts, on_error=self._count_error)
            log.info(
                "upstream stream opened: status=%d generation_id=%s attempts=%d",
                response.status_code,
                stream.generation_id,
                attempts,
            )
            self._open_streams += 1
            try:
                yield stream
            finally:
                self._open_streams -= 1
                # Close first (drops the connection if unfinished), then unwind.
                with trio.move_on_after(CLOSE_GRACE_S, shield=True):
                    await response.aclose()
                await stream.finish()

    async def _request_json(
        self,
        method: str,
        path: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        api_key: str | None = None,
        key_required: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        async with self._open_response(
            method,
            path,
            json_body=json_body,
            params=params,
            headers=headers,
            api_key=api_key,
            key_required=key_required,
        ) as (response, _):
            raw = bytearray()
            chunks = response.aiter_bytes()  # not aread(): its generators must be unwound
            try:
                async for chunk in chunks:
                    raw += chunk
            except httpx.HTTPError as exc:
                err = classify_transport_error(exc, mid_stream=True)
                self._count_error(err)
                raise err from exc
            finally:
                with trio.move_on_after(CLOSE_GRACE_S, shield=True):
                    await response.aclose()
                await finish_body_iterator(chunks)
        try:
            document = json.loads(raw)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            err = UpstreamError(
                UpstreamErrorKind.SERVER_ERROR,
                f"OpenRouter answered {method} {path} with a body that is not a JSON object",
                status=response.status_code,
            )
            self._count_error(err)
            raise err
        return document

    @asynccontextmanager
    async def _open_response(
        self,
        method: str,
        path: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        api_key: str | None = None,
        key_required: bool = True,
    ) -> AsyncIterator[tuple[httpx.Response, int]]:
        """Send with retries until a 2xx arrives; yield it with the attempt count.

        The response is closed on exit (shielded, bounded): early exit or
        cancellation closes the connection instead of pooling it.
        """
        key = self._resolve_key(api_key, required=key_required)
        request_headers = dict(headers or {})
        if key is not None:
            request_headers["Authorization"] = f"Bearer {key}"
        attempt = 0
        while True:
            attempt += 1
            if key is not None and (latched := self._latch.check(key)) is not None:
                log.warning(
                    "upstream %s %s refused locally: API key latched after 401s", method, path
                )
                self._count_error(latched)
                raise latched
            with self._shards.lease() as shard:
                request = shard.client.build_request(
                    method, path, json=json_body, params=params, headers=request_headers
                )
                if request.content:
                    request.stream = OneChunkBody(request.content)
                self._requests += 1
                try:
                    response = await shard.client.send(request, stream=True)
                except httpx.HTTPError as exc:
                    err = classify_transport_error(exc)
                else:
                    self._status_codes[response.status_code] += 1
                    if response.is_success:
                        if key is not None:
                            self._latch.record_success(key)
                        try:
                            yield response, attempt
                        finally:
                            with trio.move_on_after(CLOSE_GRACE_S, shield=True):
                                await response.aclose()
                        return
                    err = await self._read_error(response)
                    if key is not None:
                        if err.kind is UpstreamErrorKind.UNAUTHORIZED:
                            self._latch.record_unauthorized(key, err)
                        else:
                            self._latch.record_success(key)
            delay = self._policy.delay_before_retry(err, attempt=attempt, rng=self._rng)
            if delay is None:
                log.warning(
                    "upstream %s %s failed: kind=%s status=%s error_id=%s attempts=%d",
                    method,
                    path,
                    err.kind.value,
                    err.status,
                    err.error_id,
                    attempt,
                )
                self._count_error(err)
                raise err
            log.info(
                "upstream %s %s attempt %d failed (kind=%s status=%s error_id=%s); retry in %.2fs",
                method,
                path,
                attempt,
                err.kind.value,
                err.status,
                err.error_id,
                delay,
            )
            self._retries += 1
            await trio.sleep(delay)

    async def _read_error(self, response: httpx.Response) -> UpstreamError:
        """Read at most ``max_error_body_bytes`` of an error body, close, classify."""
        limit = self._config.max_error_body_bytes
        body = bytearray()
        chunks = response.aiter_bytes()
        try:
            async for chunk in chunks:
                body += chunk
                if len(body) >= limit:
                    break
        except httpx.HTTPError as exc:
            # A half-read error body is still worth classifying by its status.
            log.info("upstream error body unreadable (%s)", type(exc).__name__)
        finally:
            with trio.move_on_after(CLOSE_GRACE_S, shield=True):
                await response.aclose()
            await finish_body_iterator(chunks)
        return classify_http_error(response.status_code, response.headers, bytes(body[:limit]))
