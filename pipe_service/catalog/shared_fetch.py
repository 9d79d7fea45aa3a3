"""One ``/models`` fetch per catalog interval for a whole fleet of sidecars, through Redis.

Every sidecar's catalog actor refreshes on its own schedule; wrapped in
:class:`SharedCatalogFetch`, a refresh first reads the fleet's shared payload
(``<prefix>:catalog``: the payload and its fetch time) and uses it while it is younger than the
interval. Only when it is older does a sidecar take the refresh lock (SET NX PX with a token,
released by compare-and-delete) and fetch from OpenRouter; sidecars that find the lock taken
wait a little for the holder's payload instead of fetching too. Redis trouble never blocks a
refresh: the sidecar then fetches by itself, as it would without Redis.

What is shared is whatever the wrapped fetch returns: the bare ``/models`` payload, or the
:class:`~pipe_service.catalog.sources.CatalogSources` of a refresh that also reads the ZDR list
and the routed models' provider lists (stored as its JSON document under ``sources``), so one
sidecar's refresh spares the fleet those calls too.

Synopsis::

    fetch = SharedCatalogFetch(link, partial(fetch_sources, client, plan), ttl_s=ttl_s)
    await supervisor.start(ActorSpec("catalog", partial(catalog_actor.run, ...),
                                     args=(catalog, fetch, policy), ...))
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import redis
import trio

from pipe_service.catalog.actor import FetchModels
from pipe_service.catalog.sources import CatalogSources
from pipe_service.redis_link import RedisLink

logger = logging.getLogger("pipe_service.catalog.shared_fetch")

# How long the refresh lock lives: longer than any sane /models fetch.
LOCK_TTL_MS: Final = 60_000
# How long a sidecar that lost the lock race waits for the winner's payload, and how often it
# looks. A rare path (only when the shared payload expired), so polling is good enough.
WAIT_FOR_PEER_S: Final = 10.0
POLL_S: Final = 0.25


@dataclass
class SharedCatalogStatistics:
    upstream_fetches: int = 0
    shared_hits: int = 0
    waited_for_peer: int = 0
    redis_errors: int = 0


class SharedCatalogFetch:
    """A :data:`FetchModels` callable that shares one fetch per ``ttl_s`` across the fleet."""

    def __init__(
        self,
        link: RedisLink,
        fetch: FetchModels,
        *,
        ttl_s: float,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.link = link
        self.fetch = fetch
        self.ttl_s = ttl_s
        self.wall_clock = wall_clock
        self.stats = SharedCatalogStatistics()

    async def __call__(self) -> Mapping[str, Any] | CatalogSources:
        try:
            shared = await self._read()
        except redis.RedisError as exc:
            return await self._fetch_alone(exc)
        if shared is not None and self._fresh(shared[1]):
            self.stats.shared_hits += 1
            return shared[0]
        token = secrets.token_hex(16)
        try:
            acquired = await self.link.run_sync(
                lambda client: client.set(
                    self.link.keys.catalog_lock, token, nx=True, px=LOCK_TTL_MS
                )
            )
        except redis.RedisError as exc:
            return await self._fetch_alone(exc)
        if acquired:
            return await self._fetch_and_share(token)
        self.stats.waited_for_peer += 1
        with trio.move_on_after(WAIT_FOR_PEER_S):
            while True:
                await trio.sleep(POLL_S)
                try:
                    latest = await self._read()
                except redis.RedisError as exc:
                    return await self._fetch_alone(exc)
                if latest is not None and self._fresh(latest[1]):
                    self.stats.shared_hits += 1
                    return latest[0]
        logger.info("the fleet's catalog refresh did not arrive in time; fetching here")
        return await self._fetch_upstream()

    def _fresh(self, fetched_at: float) -> bool:
        return self.wall_clock() - fetched_at < self.ttl_s

    async def _read(self) -> tuple[Mapping[str, Any] | CatalogSources, float] | None:
        raw = await self.link.run_sync(lambda client: client.get(self.link.keys.catalog))
        if raw is None:
            return None
        stored = await trio.to_thread.run_sync(json.loads, raw)
        try:
            fetched_at = float(stored["fetched_at"])
            if "sources" in stored:
                return CatalogSources.from_document(stored["sources"]), fetched_at
            return stored["payload"], fetched_at
        except (KeyError, TypeError, ValueError, AttributeError):
            # Another version of the sidecar (a rolling upgrade) or a foreign writer: not ours to
            # use, and not a reason to fail the refresh; fetching here replaces it.
            logger.warning("the fleet's shared catalog entry has an unknown shape; ignoring it")
            return None

    async def _fetch_and_share(self, token: str) -> Mapping[str, Any] | CatalogSources:
        try:
            # Checked again under the lock: a peer may have shared a payload and released
            # the lock between our first read and our SET NX.
            try:
                shared = await self._read()
            except redis.RedisError as exc:
                self._note_redis_error(exc)
                shared = None
            if shared is not None and self._fresh(shared[1]):
                self.stats.shared_hits += 1
                return shared[0]
            payload = await self._fetch_upstream()
            stored: dict[str, Any] = {"fetched_at": self.wall_clock()}
            if isinstance(payload, CatalogSources):
                stored["sources"] = payload.to_document()
            else:
                stored["payload"] = payload
            body = await trio.to_thread.run_sync(json.dumps, stored)
            try:
                # Kept a few intervals, so a fleet whose fetches fail still shares the last one.
                await self.link.run_sync(
                    lambda client: client.set(
                        self.link.keys.catalog, body, px=int(self.ttl_s * 4 * 1000)
                    )
                )
            except redis.RedisError as exc:
                self._note_redis_error(exc)
            return payload
        finally:
            with trio.move_on_after(5, shield=True):
                try:
                    await self.link.run_script(
                        self.link.release_if_owner,
                        keys=[self.link.keys.catalog_lock],
                        args=[token],
                    )
                except redis.RedisError as exc:
                    self._note_redis_error(exc)  # the lock expires after LOCK_TTL_MS

    async def _fetch_upstream(self) -> Mapping[str, Any] | CatalogSources:
        self.stats.upstream_fetches += 1
        return await self.fetch()

    async def _fetch_alone(self, exc: redis.RedisError) -> Mapping[str, Any] | CatalogSources:
        self._note_redis_error(exc)
        return await self._fetch_upstream()

    def _note_redis_error(self, exc: redis.RedisError) -> None:
        self.stats.redis_errors += 1
        logger.warning(
            "Redis unavailable for the shared catalog; this sidecar fetches by itself",
            extra={"error": f"{type(exc).__name__}: {exc}"[:200]},
        )
