"""The fetch actor hands out the process-wide fetcher and keeps running on its schedule."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from pipe_service.fetch import actor as fetch_actor
from pipe_service.fetch.fetcher import FetchLimits, RemoteFetcher
from pipe_service.fetch.ssrf_guard import UrlPolicy
from tests.fetch.conftest import MapResolver


async def test_the_actor_hands_out_its_fetcher_and_logs_statistics_on_schedule(
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="pipe_service.fetch.actor")
    fetcher = RemoteFetcher(FetchLimits(max_bytes=1), UrlPolicy(), MapResolver({}))
    start = trio.current_time()
    handed = await nursery.start(fetch_actor.run, fetcher)
    assert handed is fetcher
    await trio.sleep(fetch_actor.STATISTICS_INTERVAL_S * 2 + 1)
    logged = [r for r in caplog.records if "remote fetch statistics" in r.getMessage()]
    assert len(logged) == 2
    assert trio.current_time() - start == fetch_actor.STATISTICS_INTERVAL_S * 2 + 1
