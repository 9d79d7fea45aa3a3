"""Start the simulator and the sidecar as real child processes and wait until they serve.

Both run as ``python -m pipe_service …`` under :func:`trio.run_process` in the caller's nursery:
cancelling that nursery sends SIGTERM (then SIGKILL after 5 s), so the processes never outlive
the benchmark. Their output goes to log files in the run's temporary directory; a process that
dies or never becomes ready raises :class:`BenchSetupError` with the tail of its log.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Final

import httpx
import trio

from pipe_service.bench.plan import Scenario
from pipe_service.bench.streams import BENCH_API_KEY

READY_POLL_S: Final = 0.05
LOG_TAIL_CHARS: Final = 2000
# Idle pooled connections are dropped after this long, well inside hypercorn's 5 s keep-alive
# timeout: a batch that reused a connection the server was closing would fail with a
# RemoteProtocolError that is the benchmark's fault, not the server's.
CLIENT_KEEPALIVE_EXPIRY_S: Final = 2.0
# Variables of the caller's environment that would change the sidecar under test.
_FOREIGN_ENV_PREFIXES: Final = ("PIPE_SERVICE_", "OPENROUTER_", "DATABASE_URL", "REDIS_URL")


class BenchSetupError(Exception):
    """A benchmark process could not be started; ``str(err)`` says which and why."""


@dataclass(frozen=True, slots=True)
class Simulator:
    process: trio.Process
    base_url: str  # http://127.0.0.1:<port>/api/v1


@dataclass(frozen=True, slots=True)
class Sidecar:
    process: trio.Process
    socket_path: Path
    pid: int  # as reported by /status (the process that serves, whatever launched it)
    launcher_pid: int = 0
    """``pipe-service serve`` itself: with ``--workers N`` the supervisor of the workers."""


def free_port() -> int:
    """A loopback port nobody listens on right now (the usual bind-to-0 probe)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def sidecar_environment(
    simulator_url: str, var_dir: Path, *, slots: int, extra: dict[str, str]
) -> dict[str, str]:
    """The sidecar's environment: ours, minus anything that configures pipe-service."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_FOREIGN_ENV_PREFIXES)
    }
    env.update(
        {
            "OPENROUTER_API_KEY": BENCH_API_KEY,
            "PIPE_SERVICE_UPSTREAM__BASE_URL": simulator_url,
            "PIPE_SERVICE_VAR_DIR": str(var_dir),
            "PIPE_SERVICE_PORT": str(free_port()),
            "PIPE_SERVICE_LOG_LEVEL": "WARNING",
            # Admission must never be what limits the benchmark.
            "PIPE_SERVICE_ADMISSION__SLOTS": str(slots),
            "PIPE_SERVICE_ADMISSION__QUEUE": str(slots),
            "PIPE_SERVICE_SHUTDOWN_GRACE_S": "3",
            "PIPE_SERVICE_GRACEFUL_TIMEOUT_S": "1",
        }
    )
    env.update(extra)
    return env


async def start_simulator(
    nursery: trio.Nursery, scenario: Scenario, log_dir: Path, *, limit_s: float
) -> Simulator:
    """Run ``pipe-service simulator`` with the scenario's pacing; return once it answers."""
    port = free_port()
    command = [sys.executable, "-m", "pipe_service", "simulator", "--port", str(port)]
    log_path = log_dir / f"simulator-{scenario.name}.log"
    process = await start_logged(nursery, [*command, *scenario.simulator_args()], None, log_path)
    base_url = f"http://127.0.0.1:{port}/api/v1"

    async def answers() -> bool:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{base_url}/models")).status_code == httpx.codes.OK

    await wait_ready("simulator", process, answers, log_path, limit_s=limit_s)
    return Simulator(process, base_url)


async def start_sidecar(
    nursery: trio.Nursery,
    simulator: Simulator,
    var_dir: Path,
    log_dir: Path,
    *,
    slots: int,
    extra_env: dict[str, str],
    limit_s: float,
    workers: int = 1,
) -> Sidecar:
    """Run ``pipe-service serve --workers N`` against the simulator; return once ``/readyz``
    says ready (with several workers: the worker that answered)."""
    env = sidecar_environment(simulator.base_url, var_dir, slots=slots, extra=extra_env)
    command = [sys.executable, "-m", "pipe_service", "serve", "--workers", str(workers)]
    log_path = log_dir / f"sidecar-{var_dir.name}.log"
    process = await start_logged(nursery, command, env, log_path)
    socket_path = var_dir / "pipe-service.sock"

    async def ready() -> bool:
        if not socket_path.exists():
            return False
        async with uds_client(socket_path) as client:
            return (await client.get("/readyz")).status_code == httpx.codes.OK

    await wait_ready("sidecar", process, ready, log_path, limit_s=limit_s)
    async with uds_client(socket_path) as client:
        pid = int((await client.get("/status")).json()["pid"])
    return Sidecar(process, socket_path, pid, launcher_pid=process.pid)


def client_limits(connections: int) -> httpx.Limits:
    """Pool limits of the load generator's clients (see ``CLIENT_KEEPALIVE_EXPIRY_S``)."""
    return httpx.Limits(
        max_connections=connections,
        max_keepalive_connections=connections,
        keepalive_expiry=CLIENT_KEEPALIVE_EXPIRY_S,
    )


def uds_client(socket_path: Path, *, connections: int = 10) -> httpx.AsyncClient:
    """An httpx client for the sidecar's Unix socket."""
    transport = httpx.AsyncHTTPTransport(
        uds=str(socket_path),
        limits=client_limits(connections),
    )
    return httpx.AsyncClient(transport=transport, base_url="http://sidecar", timeout=None)


async def start_logged(
    nursery: trio.Nursery,
    command: list[str],
    env: dict[str, str] | None,
    log_path: Path,
    *,
    cwd: Path | None = None,
) -> trio.Process:
    """Run ``command`` in ``nursery`` (cancelling it stops the process), output to ``log_path``."""
    log = _open_log(log_path)
    # The child holds its own copy of the descriptor; ours is not needed once it started.
    with log:
        process: trio.Process = await nursery.start(
            partial(
                trio.run_process,
                command,
                check=False,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    return process


async def wait_ready(
    name: str,
    process: trio.Process,
    probe: Callable[[], Awaitable[bool]],
    log_path: Path,
    *,
    limit_s: float,
) -> None:
    """Poll ``probe`` until it says ready; :class:`BenchSetupError` with the log's tail when the
    process exits or ``limit_s`` passes first."""
    with trio.move_on_after(limit_s):
        while process.returncode is None:
            try:
                if await probe():
                    return
            except httpx.TransportError:
                pass  # not listening yet
            await trio.sleep(READY_POLL_S)
    state = (
        f"exited with {process.returncode}"
        if process.returncode is not None
        else f"not ready after {limit_s:g} s"
    )
    raise BenchSetupError(f"{name} {state}; log {log_path}:\n{_tail(log_path)}")


def _open_log(path: Path) -> IO[bytes]:
    return path.open("wb")


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-LOG_TAIL_CHARS:]
