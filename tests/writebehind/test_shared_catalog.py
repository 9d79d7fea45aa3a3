"""Catalog refreshes do not stampede OpenRouter: sidecars sharing a Redis fetch ``/models``
once per interval between them (a lock elects the fetcher, the others read its payload), and
fetch by themselves when Redis is gone. Virtual time with a real Redis; the wall clock the
fetcher stamps payloads with is derived from the virtual one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import trio
import trio.testing

from pipe_service.catalog.shared_fetch import WAIT_FOR_PEER_S, SharedCatalogFetch
from pipe_service.catalog.sources import CatalogSources
from pipe_service.redis_link import RedisLink
from tests.service.conftest import free_port
from tests.writebehind.conftest import needs_redis

pytestmark = needs_redis

TTL_S = 600.0


class Upstream:
    """Counts ``/models`` fetches."""

    def __init__(self) -> None:
        self.fetches = 0

    async def __call__(self) -> Mapping[str, Any]:
        self.fetches += 1
        return {"data": [{"id": f"vendor/model-{self.fetches}"}]}


def sidecar(link: RedisLink, upstream: Upstream) -> SharedCatalogFetch:
    return SharedCatalogFetch(
        link, upstream, ttl_s=TTL_S, wall_clock=lambda: 1_800_000_000.0 + trio.current_time()
    )


async def test_three_sidecars_refreshing_together_fetch_once(
    mock_clock: trio.testing.MockClock, link: RedisLink
) -> None:
    # Jump only after 0.2 s of real idleness: the elected sidecar's fetch runs in worker
    # threads, which an instantly autojumping clock would not wait for (the waiters would
    # time out in virtual time while its Redis commands are in flight).
    mock_clock.autojump_threshold = 0.2
    upstream = Upstream()
    fleet = [sidecar(link, upstream) for _ in range(3)]
    results: list[Mapping[str, Any]] = []

    async def refresh(fetch: SharedCatalogFetch) -> None:
        results.append(await fetch())

    async with trio.open_nursery() as nursery:
        for fetch in fleet:
            nursery.start_soon(refresh, fetch)
    assert upstream.fetches == 1
    assert all(result == results[0] for result in results)


async def test_a_later_refresh_within_the_interval_reads_the_shared_payload(
    autojump_clock: trio.testing.MockClock, link: RedisLink
) -> None:
    upstream = Upstream()
    first, second = sidecar(link, upstream), sidecar(link, upstream)
    await first()
    await trio.sleep(TTL_S / 2)
    assert await second() == {"data": [{"id": "vendor/model-1"}]}
    assert (upstream.fetches, second.stats.shared_hits) == (1, 1)


async def test_a_refresh_with_zdr_and_provider_lists_is_shared_whole(
    autojump_clock: trio.testing.MockClock, link: RedisLink
) -> None:
    fetches = 0

    async def fetch_sources() -> CatalogSources:
        nonlocal fetches
        fetches += 1
        return CatalogSources(
            models={"data": [{"id": "acme/paid"}]},
            zdr_model_ids=frozenset({"acme/paid-2026"}),
            providers={"acme/paid": ("acme-cloud", "sim-cloud/fp8")},
        )

    clock = lambda: 1_800_000_000.0 + trio.current_time()  # noqa: E731
    first = SharedCatalogFetch(link, fetch_sources, ttl_s=TTL_S, wall_clock=clock)
    second = SharedCatalogFetch(link, fetch_sources, ttl_s=TTL_S, wall_clock=clock)
    fetched = await first()
    assert await second() == fetched
    assert (fetches, second.stats.shared_hits) == (1, 1)


async def test_after_the_interval_one_sidecar_fetches_again(
    autojump_clock: trio.testing.MockClock, link: RedisLink
) -> None:
    upstream = Upstream()
    first, second = sidecar(link, upstream), sidecar(link, upstream)
    await first()
    await trio.sleep(TTL_S)
    assert await second() == {"data": [{"id": "vendor/model-2"}]}
    assert await first() == {"data": [{"id": "vendor/model-2"}]}
    assert upstream.fetches == 2


async def test_a_sidecar_that_finds_the_lock_taken_waits_then_fetches_itself(
    autojump_clock: trio.testing.MockClock, link: RedisLink
) -> None:
    upstream = Upstream()
    await link.run_sync(lambda c: c.set(link.keys.catalog_lock, "a stuck peer", px=60_000))
    fetch = sidecar(link, upstream)
    start = trio.current_time()
    await fetch()
    assert trio.current_time() - start == WAIT_FOR_PEER_S
    assert (upstream.fetches, fetch.stats.waited_for_peer) == (1, 1)


async def test_without_redis_every_sidecar_fetches_by_itself(
    autojump_clock: trio.testing.MockClock,
) -> None:
    dead = RedisLink.open(
        f"redis://127.0.0.1:{free_port()}/0", key_prefix="p", pool_size=1, op_timeout_s=1
    )
    upstream = Upstream()
    fetch = sidecar(dead, upstream)
    await fetch()
    await fetch()
    assert upstream.fetches == 2
    assert fetch.stats.redis_errors == 2
    dead.close()


async def test_a_shared_entry_of_unknown_shape_is_replaced_not_a_failed_refresh(
    autojump_clock: trio.testing.MockClock, link: RedisLink
) -> None:
    # A sidecar of another version (a rolling upgrade) may have stored another shape.
    foreign = '{"fetched_at": 1, "sources": {}}'
    await link.run_sync(lambda client: client.set(link.keys.catalog, foreign))
    upstream = Upstream()
    assert await sidecar(link, upstream)() == {"data": [{"id": "vendor/model-1"}]}
    assert upstream.fetches == 1
    assert await sidecar(link, upstream)() == {"data": [{"id": "vendor/model-1"}]}
    assert upstream.fetches == 1  # the replacement is shared again
