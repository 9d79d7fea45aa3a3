"""Start-up mistakes a real ``pipe-service serve`` refuses with exit 78 and one line on stderr.

And what it must never do on the way out: take a live sidecar's socket, or delete a file that
is not its own socket.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest
import trio

from tests.one_chunk_http import uds_transport
from tests.process.test_serve_process import _env, serve

EXIT_CONFIG = 78


async def _run(tmp_path: Path, **env: str) -> tuple[int, str]:
    with trio.fail_after(60):
        result = await trio.run_process(
            [sys.executable, "-m", "pipe_service", "serve"],
            env=_env(tmp_path, **env),
            capture_stderr=True,
            capture_stdout=True,
            check=False,
        )
    return result.returncode, result.stderr.decode()


def _one_line(stderr: str) -> str:
    """The operator's line (stderr also carries the JSON log and, on a first start with TCP,
    the generated token)."""
    lines = [
        line for line in stderr.splitlines() if line.startswith("pipe-service: configuration error")
    ]
    assert len(lines) == 1, stderr
    return lines[0]


async def test_a_second_start_in_the_same_directory_refuses_and_leaves_the_first_serving(
    tmp_path: Path,
) -> None:
    with trio.fail_after(60):
        async with serve(tmp_path) as first:
            await first.wait_for_log("serving on")
            code, stderr = await _run(tmp_path)
            async with first.client() as client:
                still = await client.get("/healthz")
            first.process.send_signal(signal.SIGTERM)
            await first.process.wait()
    assert code == EXIT_CONFIG
    line = _one_line(stderr)
    assert "another pipe-service" in line
    assert f"pid {first.process.pid}" in line
    assert still.status_code == 200


async def test_a_regular_file_at_the_socket_path_is_refused_and_kept(tmp_path: Path) -> None:
    precious = tmp_path / "pipe-service.sock"
    precious.write_text("not a socket")
    code, stderr = await _run(tmp_path)
    assert code == EXIT_CONFIG
    assert "exists and is not a socket" in _one_line(stderr)
    assert precious.read_text() == "not a socket"


async def test_a_failed_start_never_deletes_a_file_at_the_socket_path(tmp_path: Path) -> None:
    precious = tmp_path / "pipe-service.sock"
    precious.write_text("keep me")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _ = await _run(tmp_path, PIPE_SERVICE_PORT=str(port))
    assert code == EXIT_CONFIG
    assert precious.read_text() == "keep me"


async def test_a_stale_socket_is_replaced(tmp_path: Path) -> None:
    stale = tmp_path / "pipe-service.sock"
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(str(stale))  # bound, never listening, then closed: connect fails
    with trio.fail_after(60):
        async with serve(tmp_path) as service:
            await service.wait_for_log("serving on")
            async with service.client() as client:
                response = await client.get("/healthz")
            service.process.send_signal(signal.SIGTERM)
            assert await service.process.wait() == 0
    assert response.status_code == 200


async def test_a_port_in_use_exits_78_naming_the_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, stderr = await _run(tmp_path, PIPE_SERVICE_PORT=str(port))
    assert code == EXIT_CONFIG
    line = _one_line(stderr)
    assert "port" in line
    assert "already in use" in line
    assert not (tmp_path / "pipe-service.sock").exists()


async def test_an_unresolvable_host_exits_78_naming_the_host(tmp_path: Path) -> None:
    code, stderr = await _run(
        tmp_path,
        PIPE_SERVICE_HOST="no-such-host.invalid",
        PIPE_SERVICE_API_TOKEN="a-token-long-enough-0123456789",
    )
    assert code == EXIT_CONFIG
    assert "configuration error: host" in _one_line(stderr)


async def test_a_var_dir_that_is_a_file_exits_78_naming_var_dir(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    code, stderr = await _run(tmp_path, PIPE_SERVICE_VAR_DIR=str(not_a_dir))
    assert code == EXIT_CONFIG
    assert "configuration error: var_dir" in _one_line(stderr)


async def test_a_socket_path_too_long_for_af_unix_exits_78(tmp_path: Path) -> None:
    long_path = tmp_path / ("s" * 120 + ".sock")
    code, stderr = await _run(tmp_path, PIPE_SERVICE_SOCKET_PATH=str(long_path))
    assert code == EXIT_CONFIG
    line = _one_line(stderr)
    assert "socket_path" in line
    assert "107" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
async def test_an_unwritable_var_dir_exits_78(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    code, stderr = await _run(tmp_path, PIPE_SERVICE_VAR_DIR=str(locked / "var"))
    assert code == EXIT_CONFIG
    assert "var_dir" in _one_line(stderr)


async def test_a_live_foreign_server_on_the_socket_path_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "pipe-service.sock"
    with socket.socket(socket.AF_UNIX) as foreign:
        foreign.bind(str(path))
        foreign.listen()
        code, stderr = await _run(tmp_path)
        assert path.exists()
    assert code == EXIT_CONFIG
    assert "a server is listening" in _one_line(stderr)


async def test_the_socket_of_a_stopped_sidecar_is_removed_but_the_lock_file_stays(
    tmp_path: Path,
) -> None:
    with trio.fail_after(60):
        async with serve(tmp_path) as service:
            await service.wait_for_log("serving on")
            service.process.send_signal(signal.SIGTERM)
            await service.process.wait()
    assert not (tmp_path / "pipe-service.sock").exists()
    assert (tmp_path / "pipe-service.sock.lock").exists()
    # The next start takes the released lock at once.
    with trio.fail_after(60):
        async with serve(tmp_path) as again:
            await again.wait_for_log("serving on")
            transport = uds_transport(str(again.socket_path))
            async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
                assert (await client.get("/healthz")).status_code == 200
            again.process.send_signal(signal.SIGTERM)
            await again.process.wait()


@pytest.mark.parametrize("database_url", ["nonsense://x", "postgresql://user@host:notaport/db"])
async def test_an_unusable_database_url_exits_78_naming_it(
    tmp_path: Path, database_url: str
) -> None:
    code, stderr = await _run(tmp_path, PIPE_SERVICE_DATABASE_URL=database_url)
    assert code == EXIT_CONFIG
    line = _one_line(stderr)
    assert "database_url" in line
    assert "notaport" not in line  # the URL may hold a password: not echoed


async def test_an_unreadable_simulator_catalog_exits_78_naming_it(tmp_path: Path) -> None:
    broken = tmp_path / "catalog.json"
    broken.write_text("not json")
    code, stderr = await _run(tmp_path, PIPE_SERVICE_SIMULATOR_CATALOG_PATH=str(broken))
    assert code == EXIT_CONFIG
    assert "simulator_catalog_path" in _one_line(stderr)
