"""The two real processes of the end-to-end suite: a ``pipe-service serve`` sidecar and Open WebUI.

Both are started as their admins would start them: the sidecar with ``python -m pipe_service
serve`` (simulator upstream, its own var dir), Open WebUI 0.12.4 with ``open-webui serve`` from its
own venv and the offline environment of ``shared/reference/open-webui-0.12.md`` Part B. Logs go to
files in the run's tmp dir and their tails are shown when a start fails.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from pipe_service.bench.owui_process import owui_command, owui_environment, owui_healthy

SIDECAR_READY_S = 30.0
OWUI_HEALTHY_S = 90.0
STOP_S = 15.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until(
    predicate: Callable[[], Any], *, limit_s: float, what: str, step_s: float = 0.1
) -> Any:
    """Poll ``predicate`` until it returns something truthy; real time, always bounded."""
    deadline = time.monotonic() + limit_s
    while True:
        try:
            result = predicate()
        except (httpx.TransportError, OSError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {limit_s} s")
        time.sleep(step_s)


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes], log: Any) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_S)
    log.close()


class SimulatorControl:
    """The sidecar's built-in simulator, reached on its private socket in the var dir: what the
    sidecar sent upstream (``/_sim/requests``) and the catalog (``/_sim/models/hidden``)."""

    def __init__(self, sidecar: SidecarProcess) -> None:
        self._sidecar = sidecar

    def requests(self) -> list[dict[str, Any]]:
        """The requests the sidecar sent to ``/responses`` (``body``, ``headers``), oldest first."""
        with self._sidecar.simulator_client() as client:
            records: list[dict[str, Any]] = client.get("/_sim/requests").json()["data"]
        return records

    def clear_requests(self) -> None:
        with self._sidecar.simulator_client() as client:
            client.delete("/_sim/requests").raise_for_status()

    def model_ids(self) -> set[str]:
        """The slugs the simulator's ``/models`` lists now."""
        with self._sidecar.simulator_client() as client:
            rows = client.get("/api/v1/models").json()["data"]
        return {str(row["id"]) for row in rows}

    def hide_models(self, *slugs: str) -> None:
        """Leave ``slugs`` out of ``/models`` (a model retired from the catalog)."""
        with self._sidecar.simulator_client() as client:
            client.put("/_sim/models/hidden", json={"ids": list(slugs)}).raise_for_status()


class SidecarProcess:
    """``pipe-service serve`` on a Unix socket in ``var_dir`` and a free loopback port, its
    built-in simulator serving ``catalog`` (the sim/* models when None)."""

    def __init__(self, var_dir: Path, catalog: Path | None = None) -> None:
        self.catalog = catalog
        self.var_dir = var_dir
        self.port = free_port()
        self.log_path = var_dir / "sidecar.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return self.var_dir / "pipe-service.sock"

    @property
    def address(self) -> str:
        """The shim's ``SIDECAR_ADDRESSES`` value for this sidecar."""
        return f"unix:{self.socket_path}"

    def start(self) -> None:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("PIPE_SERVICE_")
            and key not in ("OPENROUTER_API_KEY", "DATABASE_URL", "REDIS_URL")
        }
        env |= {
            "PIPE_SERVICE_VAR_DIR": str(self.var_dir),
            "PIPE_SERVICE_PORT": str(self.port),
            "PIPE_SERVICE_UPSTREAM_MODE": "simulator",
            # Tests read what reached the simulator (on its private socket in the var dir).
            "PIPE_SERVICE_SIMULATOR_REQUEST_LOG": "100",
            "PIPE_SERVICE_SHUTDOWN_GRACE_S": "5",
            "PIPE_SERVICE_GRACEFUL_TIMEOUT_S": "2",
            # One admin-configured variant, so the suite sees it through Open WebUI.
            "PIPE_SERVICE_MODELS__VARIANT_MODELS": "sim/text:nitro",
        }
        if self.catalog is not None:
            env["PIPE_SERVICE_SIMULATOR_CATALOG_PATH"] = str(self.catalog)
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipe_service", "serve"],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until(self._ready, limit_s=SIDECAR_READY_S, what="sidecar /readyz")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- sidecar log ---\n{log_tail(self.log_path)}") from exc

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"sidecar exited {self.process.returncode}")
        if not self._accepts_connections():
            return False
        with self.client() as client:
            return client.get("/readyz").status_code == 200

    def _accepts_connections(self) -> bool:
        """A raw probe first: after a SIGKILL the stale socket file refuses connections, and
        httpx's UDS transport leaks the socket of a refused connect (a ResourceWarning)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(self.socket_path))
            except OSError:
                return False
        return True

    def client(self) -> httpx.Client:
        transport = httpx.HTTPTransport(uds=str(self.socket_path))
        return httpx.Client(transport=transport, base_url="http://sidecar", timeout=10)

    def simulator_client(self) -> httpx.Client:
        """The built-in simulator, on its private socket (``/_sim/requests``)."""
        transport = httpx.HTTPTransport(uds=str(self.var_dir / "simulator.sock"))
        return httpx.Client(transport=transport, base_url="http://simulator", timeout=10)

    def status(self) -> dict[str, Any]:
        with self.client() as client:
            body: dict[str, Any] = client.get("/status").json()
            return body

    def active_sessions(self) -> int:
        status = self.status()
        workers = status.get("workers")
        if isinstance(workers, list):  # several workers (the default): every worker's sessions
            return sum(
                int(entry["status"]["sessions"]["active"]) for entry in workers if "status" in entry
            )
        return int(status["sessions"]["active"])

    def kill(self) -> None:
        """SIGKILL: no graceful stop, the socket file is left behind."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=STOP_S)
        self._log.close()

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process, self._log)


class OpenWebUIProcess:
    """Open WebUI 0.12.4 from its venv on 127.0.0.1, fully offline, with a fresh DATA_DIR."""

    def __init__(self, venv: Path, data_dir: Path) -> None:
        self.venv = venv
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "open-webui.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def start(self) -> None:
        """Launch without waiting (it takes ~16 s); :meth:`wait_healthy` waits."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            owui_command(self.venv, self.port),
            env=owui_environment(self.data_dir),
            cwd=self.data_dir,  # it writes stray files into the cwd
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_healthy(self) -> None:
        try:
            wait_until(self.healthy, limit_s=OWUI_HEALTHY_S, what="Open WebUI /health", step_s=0.5)
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}\n--- open-webui log ---\n{log_tail(self.log_path)}"
            ) from exc

    def healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"open-webui exited {self.process.returncode}")
        return owui_healthy(self.url)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process, self._log)
