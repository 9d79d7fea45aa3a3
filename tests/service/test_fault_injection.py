"""An injected actor crash is restarted by the supervisor and counted in /status."""

from __future__ import annotations

from typing import Any

import pytest

from tests.service.conftest import Sidecar, wait_until


@pytest.fixture
def sidecar_overrides() -> dict[str, Any]:
    return {"fault_injection": True, "restart_backoff_initial_s": 0.01}


async def _catalog_restarts(client: Any) -> int:
    status = (await client.get("/status")).json()
    catalog = next(actor for actor in status["actors"] if actor["name"] == "catalog")
    restarts: int = catalog["restarts"]
    return restarts


async def test_an_injected_crash_is_restarted_and_counted(sidecar: Sidecar) -> None:
    async with sidecar.uds_client() as client:
        response = await client.post("/admin/fault/catalog")
        assert response.status_code == 202

        async def restarted() -> bool:
            return await _catalog_restarts(client) > 0

        await wait_until(restarted)
        status = (await client.get("/status")).json()
    catalog = next(actor for actor in status["actors"] if actor["name"] == "catalog")
    assert catalog["restarts"] == 1
    assert "injected fault" in catalog["last_error"]
    assert status["restarts_total"] == 1
    # The catalog survives its actor's crash: models are still served.
    assert status["catalog"]["models"] > 10


async def test_fault_injection_needs_the_token_over_tcp(sidecar: Sidecar) -> None:
    async with sidecar.tcp_client(token=False) as client:
        refused = await client.post("/admin/fault/catalog")
    assert refused.status_code == 401
    assert sidecar.running.catalog.statistics().fetches >= 1
    assert all(stats.restarts == 0 for stats in sidecar.supervisor.statistics())


async def test_fault_injection_of_an_unknown_actor_is_refused(sidecar: Sidecar) -> None:
    # With the token the call is allowed, but an unknown actor is refused rather than ignored.
    async with sidecar.tcp_client() as client:
        response = await client.post("/admin/fault/front")
    assert response.status_code == 404
    assert "no fault injection" in response.json()["error"]
