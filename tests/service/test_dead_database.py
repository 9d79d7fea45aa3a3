"""A dead database makes the sidecar not ready, not dead: /readyz says why, /healthz still 200."""

from __future__ import annotations

from typing import Any

import pytest

from tests.service.conftest import Sidecar


@pytest.fixture
def sidecar_overrides() -> dict[str, Any]:
    return {"database_url": "postgresql://postgres@127.0.0.1:1/test"}


async def test_readyz_is_503_naming_storage_while_healthz_stays_200(sidecar: Sidecar) -> None:
    async with sidecar.uds_client() as client:
        ready = await client.get("/readyz")
        health = await client.get("/healthz")
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["catalog"] == "ok"
    assert "OperationalError" in checks["storage"]
    assert health.status_code == 200
