"""Download one remote URL safely: guard, pin, cap, re-validate redirects, retry within a budget.

Every hop (the first URL and each redirect target) goes through
:func:`~pipe_service.fetch.ssrf_guard.validate_url` and gets its own
:class:`~pipe_service.fetch.pinned_transport.PinnedTransport`, so a redirect into private space is
refused before any connection to it. The size cap holds twice: a declared ``Content-Length``
above it is refused before the body is read, and the running byte count is checked on every chunk
(a server may lie or send no length at all). 5xx, 408, 425, 429 and transport errors are retried
with exponential backoff (``Retry-After`` honoured, capped) while the retry budget lasts.

Synopsis::

    fetcher = RemoteFetcher(FetchLimits(max_bytes=50 << 20), UrlPolicy(), SystemResolver())
    body = await fetcher.fetch("https://example.com/cat.png")
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import trio

from pipe_service.fetch.pinned_transport import PinnedTransport, ReadBudgetExceededError
from pipe_service.fetch.ssrf_guard import (
    Resolver,
    UnsafeUrlError,
    UrlPolicy,
    ValidatedTarget,
    validate_url,
)

__all__ = ["FetchError", "FetchLimits", "FetchStatistics", "FetchedBody", "RemoteFetcher"]

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK_BYTES = 64 * 1024

HEAD_ALLOWANCE_BYTES = 64 * 1024
"""Bytes a connection may read beyond the body cap: status line, headers, chunk framing."""

TransportFactory = Callable[[ValidatedTarget, int], httpx.AsyncBaseTransport]
"""Builds the transport of one validated hop, given its read budget in bytes."""


def pinned_transport(target: ValidatedTarget, read_budget: int) -> httpx.AsyncBaseTransport:
    return PinnedTransport(target, read_budget=read_budget)


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """The fetcher's own limits (see the ``media`` settings for each one's meaning)."""

    max_bytes: int
    max_redirects: int = 5
    max_retries: int = 3
    retry_initial_s: float = 1.0
    retry_budget_s: float = 45.0
    attempt_timeout_s: float = 30.0
    concurrency: int = 8


@dataclass(frozen=True, slots=True)
class FetchedBody:
    data: bytes
    content_type: str
    """The response's media type without parameters ("" when the server sent none)."""
    url: str
    """The final URL, after redirects."""


@dataclass(frozen=True, slots=True)
class FetchStatistics:
    fetched: int
    refused: int
    failed: int
    in_flight: int


class FetchError(Exception):
    """A download that failed (not refused by the guard: that is :class:`UnsafeUrlError`)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class _RetryableError(Exception):
    def __init__(self, reason: str, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_after_s = retry_after_s


class RemoteFetcher:
    """Process-wide remote downloads: a concurrency limit, counters, and the fetch itself.

    ``fetch`` runs in the caller's task (a cancelled request cancels its download).
    ``transport_factory`` builds the transport of one validated hop; tests inject one that
    records or fakes the connection.
    """

    def __init__(
        self,
        limits: FetchLimits,
        policy: UrlPolicy,
        resolver: Resolver,
        *,
        transport_factory: TransportFactory = pinned_transport,
    ) -> None:
        self.limits = limits
        self.policy = policy
        self._resolver = resolver
        self._transport_factory = transport_factory
        self._limiter = trio.CapacityLimiter(limits.concurrency)
        self._fetched = 0
        self._refused = 0
        self._failed = 0

    def statistics(self) -> FetchStatistics:
        return FetchStatistics(
            fetched=self._fetched,
            refused=self._refused,
            failed=self._failed,
            in_flight=self._limiter.borrowed_tokens,
        )

    async def check(self, url: str) -> ValidatedTarget:
        """Validate ``url`` without fetching it (raises :class:`UnsafeUrlError`)."""
        try:
            return await validate_url(url, self.policy, self._resolver)
        except UnsafeUrlError:
            self._refused += 1
            raise

    async def fetch(self, url: str) -> FetchedBody:
        """Download ``url``; raise :class:`UnsafeUrlError` or :class:`FetchError`."""
        async with self._limiter:
            try:
                body = await self._fetch_with_retries(url)
            except UnsafeUrlError:
                self._refused += 1
                raise
            except FetchError as exc:
                self._failed += 1
                log.info("remote fetch failed: %s", exc.reason)
                raise
        self._fetched += 1
        return body

    async def _fetch_with_retries(self, url: str) -> FetchedBody:
        limits = self.limits
        budget_deadline = trio.current_time() + limits.retry_budget_s
        attempt = 0
        while True:
            try:
                with trio.fail_after(limits.attempt_timeout_s):
                    return await self._fetch_once(url)
            except trio.TooSlowError:
                failure = _RetryableError(
                    "timeout", f"no answer within {limits.attempt_timeout_s}s"
                )
            except _RetryableError as exc:
                failure = exc
            if attempt >= limits.max_retries:
                raise FetchError(failure.reason, f"{failure.message} (after {attempt + 1} tries)")
            delay = limits.retry_initial_s * (2**attempt)
            if failure.retry_after_s is not None:
                delay = max(delay, failure.retry_after_s)
            if trio.current_time() + delay > budget_deadline:
                raise FetchError(
                    failure.reason,
                    f"{failure.message} (retry budget of {limits.retry_budget_s}s spent)",
                )
            attempt += 1
            await trio.sleep(delay)

    async def _fetch_once(self, url: str) -> FetchedBody:
        current = url
        for _hop in range(self.limits.max_redirects + 1):
            target = await validate_url(current, self.policy, self._resolver)
            transport = self._transport_factory(
                target, self.limits.max_bytes + HEAD_ALLOWANCE_BYTES
            )
            async with httpx.AsyncClient(
                transport=transport, follow_redirects=False, timeout=None, trust_env=False
            ) as client:
                try:
                    async with client.stream(
                        "GET",
                        target.url,
                        headers={
                            "User-Agent": "pipe-service",
                            "Accept": "*/*",
                            # Bytes counted as sent: no compression bombs (encodings are refused).
                            "Accept-Encoding": "identity",
                        },
                    ) as response:
                        if response.status_code in _REDIRECT_STATUSES:
                            location = response.headers.get("location")
                            if not location:
                                raise FetchError("bad_redirect", "redirect without a Location")
                            current = str(target.url.join(location))
                            continue
                        return await self._read_body(response, target)
                except httpx.TransportError as exc:
                    if any(isinstance(link, ReadBudgetExceededError) for link in _chain(exc)):
                        raise FetchError(
                            "too_large", f"body exceeds {self.limits.max_bytes} bytes"
                        ) from None
                    certificate = _certificate_failure(exc)
                    if certificate is not None:
                        # Not transient: the same certificate comes back on every retry.
                        raise FetchError("certificate", certificate) from None
                    raise _RetryableError("network", _describe(exc)) from None
        raise FetchError("too_many_redirects", f"more than {self.limits.max_redirects} redirects")

    async def _read_body(self, response: httpx.Response, target: ValidatedTarget) -> FetchedBody:
        status = response.status_code
        if status in RETRYABLE_STATUSES:
            raise _RetryableError(
                f"http_{status}", f"HTTP {status}", _retry_after(response, self.limits)
            )
        if status >= 400 or status < 200:
            raise FetchError(f"http_{status}", f"HTTP {status}")
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise FetchError("encoded_body", f"unrequested Content-Encoding {encoding[:32]!r}")
        max_bytes = self.limits.max_bytes
        declared = response.headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
            raise FetchError("too_large", f"declares {int(declared)} bytes, over {max_bytes}")
        chunks: list[bytes] = []
        received = 0
        async for chunk in response.aiter_bytes(_CHUNK_BYTES):
            # Checked on the running count: Content-Length may lie or be absent. Past the cap
            # nothing is kept; the loop is not broken so the body generators end cleanly,
            # and the connection's read budget ends an endless body with an error.
            received += len(chunk)
            if received <= max_bytes:
                chunks.append(chunk)
        if received > max_bytes:
            raise FetchError("too_large", f"body exceeds {max_bytes} bytes")
        content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        return FetchedBody(data=b"".join(chunks), content_type=content_type, url=str(target.url))


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _certificate_failure(exc: BaseException) -> str | None:
    for link in _chain(exc):
        if isinstance(link, ssl.SSLCertVerificationError):
            return f"TLS certificate rejected: {link.verify_message or link}"
    return None


def _describe(exc: BaseException) -> str:
    # httpcore errors often carry an empty message; the useful text is further down the chain.
    for link in _chain(exc):
        if str(link):
            return f"{type(link).__name__}: {link}"[:300]
    return type(exc).__name__


def _retry_after(response: httpx.Response, limits: FetchLimits) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    if not value.isdigit():
        return None
    return min(float(value), limits.retry_budget_s)
