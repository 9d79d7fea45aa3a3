"""A set of httpx clients ("shards") that upstream requests are spread over.

Why shard: httpcore 1.0's pool re-scans every connection (and, per idle one,
re-counts all of them) on each request start and close, which is O(N²) in the
pool size. Measured with 200 concurrent streams, one 1000-connection client
cost 11 ms CPU per stream; eight clients of <= 100 connections cost 3.1 ms.
So each shard is capped at 100 connections and load is spread across them.

Why least-loaded (ties broken round-robin) rather than plain round-robin:
streams live for seconds to minutes, so round-robin drifts into uneven pools
as long streams pile up on one shard; picking the shard with the fewest
requests in flight keeps every pool small, which is what bounds the O(N²)
cost, and the rotating tie-break still spreads an idle burst evenly.

Synopsis::

    pool = ShardPool(config)
    await pool.open()
    with pool.lease() as shard:
        response = await shard.client.send(request, stream=True)
    await pool.aclose()
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import trio

from pipe_service.openrouter.client_config import UpstreamClientConfig
from pipe_service.openrouter.lean_reads import install_lean_reads

__all__ = ["CLOSE_GRACE_S", "Shard", "ShardPool"]

CLOSE_GRACE_S = 5.0
"""Bound on closing all connections at shutdown (shielded)."""


@dataclass
class Shard:
    """One httpx client plus the number of requests currently using it."""

    index: int
    client: httpx.AsyncClient
    in_flight: int = 0


class ShardPool:
    """Opens, leases and closes the shards; ``aclose`` is idempotent."""

    def __init__(
        self,
        config: UpstreamClientConfig,
        headers: Mapping[str, str],
        *,
        unix_socket: str | None = None,
    ) -> None:
        self._config = config
        self._unix_socket = unix_socket
        self._headers = dict(headers)
        self._shards: list[Shard] = []
        self._next = 0
        self._closed = False

    @property
    def is_open(self) -> bool:
        return bool(self._shards) and not self._closed

    def open(self) -> None:
        """Create the clients (no I/O happens until the first request)."""
        if self._closed:
            raise RuntimeError("ShardPool was closed; create a new OpenRouterClient")
        if self._shards:
            return
        config = self._config
        # One SSL context for all shards: loading the CA bundle costs ~20 ms each.
        verify = httpx.create_ssl_context() if config.base_url.startswith("https:") else True
        self._shards = [
            Shard(
                index=index,
                client=httpx.AsyncClient(
                    base_url=config.base_url,
                    headers=self._headers,
                    timeout=config.httpx_timeout(),
                    limits=config.httpx_limits(),
                    verify=verify,
                    follow_redirects=False,
                    transport=self._transport(verify),
                ),
            )
            for index in range(config.shards)
        ]

    def _transport(self, verify: ssl.SSLContext | bool) -> httpx.AsyncHTTPTransport:
        # A transport given to the client ignores the client's limits and verify: set them here.
        transport = httpx.AsyncHTTPTransport(
            verify=verify, uds=self._unix_socket, limits=self._config.httpx_limits()
        )
        install_lean_reads(transport)  # streamed reads without a cancel scope each
        return transport

    async def aclose(self) -> None:
        """Close every shard's connections. Safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        # Shielded and bounded: shutdown must release sockets even when cancelled.
        with trio.move_on_after(CLOSE_GRACE_S, shield=True):
            for shard in self._shards:
                await shard.client.aclose()

    @contextmanager
    def lease(self) -> Iterator[Shard]:
        """Pick the least-loaded shard and count this request on it until exit."""
        if not self.is_open:
            raise RuntimeError(
                "OpenRouterClient is not open; use `async with OpenRouterClient(...)`"
            )
        count = len(self._shards)
        candidates = [self._shards[(self._next + offset) % count] for offset in range(count)]
        shard = min(candidates, key=lambda candidate: candidate.in_flight)
        self._next = (shard.index + 1) % count
        shard.in_flight += 1
        try:
            yield shard
        finally:
            shard.in_flight -= 1

    def in_flight(self) -> tuple[int, ...]:
        """Requests in flight per shard, in shard order."""
        return tuple(shard.in_flight for shard in self._shards)
