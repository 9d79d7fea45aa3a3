"""The catalog actor on virtual time: warm-up, TTL refresh, stale-on-failure, backoff."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import pytest
import trio
import trio.testing

from pipe_service.catalog import actor as catalog_actor
from pipe_service.catalog.actor import (
    Catalog,
    CatalogPolicy,
    CatalogUnavailableError,
    InjectFault,
    retry_delay,
)
from pipe_service.catalog.filters import CatalogFilterOptions

POLICY = CatalogPolicy(ttl_s=600, retry_initial_s=2, retry_max_s=16, warmup_s=10)


def _payload(*slugs: str) -> dict[str, Any]:
    return {
        "data": [{"id": slug, "name": slug, "supported_parameters": ["tools"]} for slug in slugs]
    }


class ScriptedFetch:
    """Answers /models calls from a script: a payload, an exception, or a hang."""

    def __init__(self, *script: Mapping[str, Any] | Exception | None) -> None:
        self.script = list(script)
        self.calls: list[float] = []

    async def __call__(self) -> Mapping[str, Any]:
        self.calls.append(trio.current_time())
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if step is None:
            await trio.sleep_forever()
        if isinstance(step, Exception):
            raise step
        assert step is not None
        return step


async def _start(nursery: trio.Nursery, fetch: ScriptedFetch, **kwargs: Any) -> Catalog:
    catalog = Catalog(CatalogFilterOptions())
    started: Catalog = await nursery.start(
        partial(catalog_actor.run, **kwargs), catalog.inbox.receiver(), catalog, fetch, POLICY
    )
    return started


async def test_warm_up_loads_the_catalog_before_started(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    catalog = await _start(nursery, ScriptedFetch(_payload("sim/text", "sim/reasoning")))
    assert catalog.loaded
    assert [model.slug for model in catalog.current().list()] == ["sim/text", "sim/reasoning"]


async def test_refreshes_after_the_ttl(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    fetch = ScriptedFetch(_payload("a/one"), _payload("a/one", "a/two"))
    catalog = await _start(nursery, fetch)
    await trio.sleep(601)
    assert fetch.calls == [0, 600]
    assert len(catalog.current()) == 2


async def test_a_failed_refresh_keeps_the_stale_catalog_and_backs_off(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    fetch = ScriptedFetch(
        _payload("a/one"),
        OSError("down"),
        OSError("down"),
        OSError("down"),
        _payload("a/one", "a/two"),
    )
    catalog = await _start(nursery, fetch)
    await trio.sleep(600 + 2 + 4 + 8 + 1)
    # TTL, then backoff 2, 4, 8 after each consecutive failure, then success.
    assert fetch.calls == [0, 600, 602, 606, 614]
    assert len(catalog.current()) == 2
    stats = catalog.statistics()
    assert stats.failures == 3
    assert stats.consecutive_failures == 0
    assert stats.last_error is None


async def test_before_any_catalog_requests_are_told_it_is_unavailable(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    fetch = ScriptedFetch(OSError("connection refused"))
    catalog = await _start(nursery, fetch)
    with pytest.raises(CatalogUnavailableError, match="connection refused"):
        catalog.current()


async def test_a_hanging_warm_up_does_not_block_start(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    fetch = ScriptedFetch(None)
    catalog = await _start(nursery, fetch)
    assert trio.current_time() == 10
    assert not catalog.loaded
    assert catalog.statistics().consecutive_failures == 1


async def test_refresh_request_fetches_at_once(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    fetch = ScriptedFetch(_payload("a/one"))
    catalog = await _start(nursery, fetch)
    await trio.sleep(30)
    assert catalog.request_refresh()
    await trio.testing.wait_all_tasks_blocked()
    assert fetch.calls == [0, 30]


async def test_injected_fault_crashes_only_when_allowed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fetch = ScriptedFetch(_payload("a/one"))
    async with trio.open_nursery() as nursery:
        catalog = await _start(nursery, fetch)
        catalog.inbox.send_nowait(InjectFault())
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    with pytest.RaisesGroup(pytest.RaisesExc(RuntimeError, match="injected fault")):
        async with trio.open_nursery() as nursery:
            catalog = await _start(nursery, fetch, allow_fault_injection=True)
            catalog.inbox.send_nowait(InjectFault())


@pytest.mark.parametrize(("failures", "delay"), [(1, 2), (2, 4), (3, 8), (4, 16), (9, 16)])
def test_retry_delay_doubles_and_caps(failures: int, delay: float) -> None:
    assert retry_delay(POLICY, failures) == delay
