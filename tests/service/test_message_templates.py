"""The configured interrupted-notice template is what users see when an answer fails midway."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.service.conftest import Sidecar


@pytest.fixture
def sidecar_overrides() -> dict[str, Any]:
    return {"messages": {"interrupted_template": "\n\n[CUT {kind}] {message} ({error_id})"}}


async def test_interrupted_notice_uses_the_configured_template(sidecar: Sidecar) -> None:
    body = {
        "model": "sim/fail-mid-stream",
        "stream": True,
        "messages": [{"role": "user", "content": "go"}],
    }
    async with sidecar.uds_client() as client:
        response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    chunks = [
        json.loads(line.removeprefix("data: "))
        for line in response.text.splitlines()
        if line.startswith("data: {")
    ]
    content = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks)
    partial, _, notice = content.partition("\n\n[CUT ")
    assert partial.strip()
    assert notice.startswith("stream_failed]")
    assert "(err_" in notice
