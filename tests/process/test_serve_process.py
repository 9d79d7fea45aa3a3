"""``pipe-service serve`` as a real process: it serves, stops on SIGTERM, and escalates.

These are the README's promises tested end to end: a fresh process answers ``/healthz`` on its
Unix socket, exits 0 on SIGTERM within the grace period, exits 70 with one clear log line when
an actor keeps crashing past the restart limit, and exits 78 on bad configuration.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import trio

from tests.one_chunk_http import uds_transport
from tests.service.conftest import free_port

GRACE_S = 5.0


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PIPE_SERVICE_")
        and key not in ("OPENROUTER_API_KEY", "DATABASE_URL", "REDIS_URL")
    }
    env.update(
        {
            "PIPE_SERVICE_VAR_DIR": str(tmp_path),
            "PIPE_SERVICE_PORT": str(free_port()),
            "PIPE_SERVICE_SHUTDOWN_GRACE_S": str(GRACE_S),
            "PIPE_SERVICE_GRACEFUL_TIMEOUT_S": "2",
            # One process unless a test asks for workers (`serve --workers N` overrides it).
            "PIPE_SERVICE_WORKERS": "1",
            **extra,
        }
    )
    return env


class ServeProcess:
    def __init__(self, process: trio.Process, tmp_path: Path) -> None:
        self.process = process
        self.socket_path = tmp_path / "pipe-service.sock"
        self.log: list[dict[str, object]] = []
        self._buffer = b""

    async def wait_for_log(self, fragment: str) -> dict[str, object]:
        """Read the JSON log on stderr until a record whose message contains ``fragment``."""
        assert self.process.stderr is not None
        while True:
            for record in self.log:
                if fragment in str(record.get("msg")):
                    return record
            chunk = await self.process.stderr.receive_some(65536)
            if not chunk:
                raise AssertionError(f"process ended before logging {fragment!r}: {self.log}")
            self._buffer += chunk
            *lines, self._buffer = self._buffer.split(b"\n")
            self.log.extend(json.loads(line) for line in lines if line.startswith(b"{"))

    def client(self) -> httpx.AsyncClient:
        transport = uds_transport(str(self.socket_path))
        return httpx.AsyncClient(transport=transport, base_url="http://sidecar")


@asynccontextmanager
async def serve(tmp_path: Path, **env: str) -> AsyncIterator[ServeProcess]:
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "pipe_service", "serve"],
        env=_env(tmp_path, **env),
        stderr=-1,
        stdout=-1,
    )
    try:
        yield ServeProcess(process, tmp_path)
    finally:
        if process.returncode is None:
            process.kill()
        with trio.move_on_after(10, shield=True):
            await process.wait()


async def test_serves_healthz_on_the_socket_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    with trio.fail_after(60):
        async with serve(tmp_path) as service:
            await service.wait_for_log("serving on")
            async with service.client() as client:
                response = await client.get("/healthz")
            assert response.status_code == 200
            service.process.send_signal(signal.SIGTERM)
            start = trio.current_time()
            returncode = await service.process.wait()
            elapsed = trio.current_time() - start
            await service.wait_for_log("stopped cleanly")
    assert returncode == 0
    assert elapsed < GRACE_S
    assert not service.socket_path.exists()


async def test_the_simulator_upstream_is_announced_in_the_log(tmp_path: Path) -> None:
    with trio.fail_after(60):
        async with serve(tmp_path) as service:
            record = await service.wait_for_log("built-in OpenRouter simulator")
            service.process.send_signal(signal.SIGTERM)
            await service.process.wait()
    assert record["level"] == "WARNING"


async def test_crashes_past_the_restart_limit_stop_the_process_with_exit_70(tmp_path: Path) -> None:
    with trio.fail_after(60):
        async with serve(
            tmp_path,
            PIPE_SERVICE_FAULT_INJECTION="true",
            PIPE_SERVICE_RESTART_MAX="1",
            PIPE_SERVICE_RESTART_BACKOFF_INITIAL_S="0.01",
        ) as service:
            await service.wait_for_log("serving on")
            async with service.client() as client:
                assert (await client.post("/admin/fault/catalog")).status_code == 202
                await service.wait_for_log("restart 1")
                assert (await client.post("/admin/fault/catalog")).status_code == 202
            record = await service.wait_for_log("stopping:")
            returncode = await service.process.wait()
    assert returncode == 70
    assert record["level"] == "CRITICAL"
    assert "catalog" in str(record["msg"])


async def test_bad_configuration_exits_78_with_one_line(tmp_path: Path) -> None:
    with trio.fail_after(60):
        result = await trio.run_process(
            [sys.executable, "-m", "pipe_service", "serve"],
            env=_env(tmp_path, PIPE_SERVICE_BACKLOG="lots"),
            capture_stderr=True,
            check=False,
        )
    assert result.returncode == 78
    message = result.stderr.decode()
    assert message.startswith("pipe-service: configuration error: backlog")
    assert message.count("\n") == 1


async def test_the_absolute_socket_path_for_the_shim_is_logged_at_start(tmp_path: Path) -> None:
    with trio.fail_after(60):
        async with serve(tmp_path) as service:
            record = await service.wait_for_log("shim valve: SIDECAR_ADDRESSES=")
            service.process.send_signal(signal.SIGTERM)
            await service.process.wait()
    assert record["msg"] == f"shim valve: SIDECAR_ADDRESSES=unix:{service.socket_path.resolve()}"
