"""Fixtures for the simulator tests: a real server on 127.0.0.1:0 and an httpx client to it.

Every server runs in pytest-trio's ``nursery`` fixture, so it is cancelled when the test ends.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
import pytest
import trio

from pipe_service.simulator import SimulatorConfig, serve_simulator
from tests.catalog.fixture_catalog import FIXTURE_PATH

API_KEY = "sk-or-v1-test"
FIXTURE_CATALOG = FIXTURE_PATH  # the real 371-model payload, shipped under tests/fixtures

StartSimulator = Callable[..., Any]


@dataclass
class SseStream:
    """What one SSE response carried, split into comments, events and the [DONE] sentinel."""

    status: int
    headers: httpx.Headers
    lines: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False
    error: Exception | None = None

    @property
    def types(self) -> list[str]:
        return [event["type"] for event in self.events]

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["type"] == event_type]

    @property
    def terminal(self) -> dict[str, Any]:
        return self.events[-1]


async def read_sse(client: httpx.AsyncClient, body: dict[str, Any], **kwargs: Any) -> SseStream:
    """POST /responses with stream=true and collect every line (tolerating a dropped connection)."""
    async with client.stream("POST", "/responses", json={**body, "stream": True}, **kwargs) as r:
        result = SseStream(r.status_code, r.headers)
        try:
            async for line in r.aiter_lines():
                result.lines.append(line)
                if line.startswith("data: "):
                    payload = line.removeprefix("data: ")
                    if payload == "[DONE]":
                        result.done = True
                    else:
                        result.events.append(json.loads(payload))
        except httpx.RemoteProtocolError as error:
            result.error = error
    return result


async def _start(nursery: trio.Nursery, **config: Any) -> str:
    urls: list[str] = await nursery.start(
        partial(serve_simulator, SimulatorConfig(**config), binds=["127.0.0.1:0"])
    )
    return urls[0]


@pytest.fixture
async def start_simulator(nursery: trio.Nursery) -> StartSimulator:
    """``await start_simulator(**config_fields)`` -> the server's root URL."""
    return partial(_start, nursery)


@pytest.fixture
async def base_url(start_simulator: StartSimulator) -> str:
    root: str = await start_simulator()
    return root


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=f"{base_url}/api/v1", headers=headers) as http:
        yield http


def weather_tool(name: str = "get_weather") -> dict[str, Any]:
    return {
        "type": "function",
        "name": name,
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
    }
