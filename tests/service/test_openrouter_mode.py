"""With an API key the sidecar talks to OpenRouter's URL; an unreachable upstream means not
ready (no catalog) and chat requests get a clear 503, never a hang."""

from __future__ import annotations

from typing import Any

import pytest

from tests.service.conftest import Sidecar


@pytest.fixture
def sidecar_overrides() -> dict[str, Any]:
    return {
        "openrouter_api_key": "sk-or-v1-test",
        "upstream": {"base_url": "http://127.0.0.1:1/api/v1", "retry_max_attempts": 1},
        "catalog": {"warmup_s": 1},
    }


async def test_status_reports_openrouter_mode_and_its_base_url(sidecar: Sidecar) -> None:
    async with sidecar.uds_client() as client:
        status = (await client.get("/status")).json()
    assert status["upstream"] == {"mode": "openrouter", "base_url": "http://127.0.0.1:1/api/v1"}
    assert "simulator" not in [actor["name"] for actor in status["actors"]]


async def test_unreachable_upstream_is_not_ready_and_chat_answers_503(sidecar: Sidecar) -> None:
    async with sidecar.uds_client() as client:
        ready = await client.get("/readyz")
        chat = await client.post(
            "/v1/chat/completions",
            json={"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
        )
    assert ready.status_code == 503
    assert "no model catalog yet" in ready.json()["checks"]["catalog"]
    assert chat.status_code == 503
    assert chat.json()["error"]["code"] == "catalog_unavailable"
    assert chat.headers["retry-after"] == "5"
