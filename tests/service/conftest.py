"""A whole sidecar started in the test's nursery: simulator upstream, real sockets, real SQLite.

The service runs exactly as ``pipe-service serve`` assembles it (``start_service``), on a Unix
socket in ``tmp_path`` and a free loopback port, so tests talk to it over the same sockets a
shim or an OpenAI client would.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import trio

from actors import Supervisor, open_supervisor
from pipe_service.config import Settings
from pipe_service.context import ServiceContext
from pipe_service.openrouter.upstream_stream import finish_body_iterator
from pipe_service.service import RunningService, open_database, start_service
from tests.one_chunk_http import tcp_transport, uds_transport


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


TEST_API_TOKEN = "test-api-token-0123456789abcdef"
"""TCP always needs a token; tests set this one (the generated-token path has its own tests)."""


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "var_dir": tmp_path,
        "port": free_port(),
        "api_token": TEST_API_TOKEN,
        "simulator_request_log": 100,
        "log_format": "text",
        "simulator_retry_after_s": 0,
        "shutdown_grace_s": 5,
        "graceful_timeout_s": 2,
        "upstream": {"retry_base_backoff_s": 0, "retry_max_backoff_s": 0, "retry_max_attempts": 3},
    }
    values.update(overrides)
    return Settings.model_validate(values)


def bare_context(settings: Settings) -> ServiceContext:
    """A context for a front app built without a service (no supervisor: its routes that read
    one are not called)."""
    return ServiceContext(
        settings=settings,
        supervisor=cast(Any, None),
        upstream_mode="simulator",
        upstream_base_url="built-in simulator (private socket)",
    )


@dataclass
class Sidecar:
    settings: Settings
    running: RunningService
    supervisor: Supervisor

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    def uds_client(self) -> httpx.AsyncClient:
        transport = uds_transport(str(self.settings.effective_socket_path))
        return httpx.AsyncClient(transport=transport, base_url="http://sidecar")

    def tcp_client(self, *, token: bool = True, **kwargs: Any) -> httpx.AsyncClient:
        """An httpx client over TCP, sending the test token unless ``token=False``."""
        headers = {"Authorization": f"Bearer {self.api_token}"} if token else {}
        kwargs.setdefault("transport", tcp_transport())
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, **kwargs)

    @property
    def api_token(self) -> str:
        assert self.settings.api_token is not None
        return self.settings.api_token.get_secret_value()

    def simulator_client(self) -> httpx.AsyncClient:
        """An httpx client on the built-in simulator's private socket (``/_sim/requests``)."""
        socket_path = self.running.simulator_socket
        assert socket_path is not None, "the simulator is not the upstream"
        transport = uds_transport(str(socket_path))
        return httpx.AsyncClient(transport=transport, base_url="http://simulator")


async def read_until_cancelled(response: httpx.Response) -> None:
    """Read a streamed response body until the caller is cancelled, then unwind httpx's body
    generators at once (closed response, one more step), not whenever the collector runs."""
    chunks = response.aiter_bytes()
    try:
        async for _ in chunks:
            pass
    finally:
        with trio.move_on_after(1, shield=True):
            await response.aclose()
        await finish_body_iterator(chunks)


@pytest.fixture
def sidecar_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
async def sidecar(tmp_path: Path, sidecar_overrides: dict[str, Any]) -> AsyncIterator[Sidecar]:
    settings = make_settings(tmp_path, **sidecar_overrides)
    async with open_database(settings) as database, open_supervisor(grace_s=5) as supervisor:
        running = await start_service(supervisor, settings, database)
        yield Sidecar(settings, running, supervisor)
        supervisor.request_shutdown("test finished")


@pytest.fixture
def sdk_base_url(sidecar: Sidecar) -> str:
    return f"{sidecar.base_url}/v1"


async def in_thread(fn: Any, *args: Any) -> Any:
    """Run the synchronous openai SDK off the trio thread (the service runs on this one)."""
    with trio.fail_after(30):
        return await trio.to_thread.run_sync(fn, *args)


async def wait_until(predicate: Any, *, limit_s: float = 10.0, step_s: float = 0.005) -> None:
    """Poll a condition on live state (real sockets cannot be put on virtual time)."""
    for _ in range(int(limit_s / step_s)):
        if await _evaluate(predicate):
            return
        await trio.sleep(step_s)
    raise AssertionError(f"condition not met within {limit_s} s")


async def _evaluate(predicate: Any) -> bool:
    result = predicate()
    if hasattr(result, "__await__"):
        result = await result
    return bool(result)
