"""``pipe-service serve --workers 2`` as real processes: one supervisor process, two workers.

The workers share the supervisor's sockets; a worker killed with SIGKILL is restarted while the
other keeps serving; SIGTERM stops every worker and the supervisor exits 0; ``/status`` says
which worker answered.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from tests.process.test_serve_process import ServeProcess, _env
from tests.service.conftest import wait_until

CHAT = {"model": "sim/text", "messages": [{"role": "user", "content": "hello"}]}


@asynccontextmanager
async def serve_workers(tmp_path: Path, *, workers: int = 2) -> AsyncIterator[ServeProcess]:
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "pipe_service", "serve", "--workers", str(workers)],
        env=_env(tmp_path, PIPE_SERVICE_RESTART_BACKOFF_INITIAL_S="0.05"),
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


async def _worker_pids(service: ServeProcess, count: int) -> dict[int, int]:
    """index → pid of each worker, from ``/status`` on fresh connections until all answered."""
    seen: dict[int, int] = {}
    while len(seen) < count:
        async with service.client() as client:
            worker = (await client.get("/status")).json()["worker"]
        assert worker["count"] == count
        seen[worker["index"]] = worker["pid"]
        await trio.sleep(0.01)
    return seen


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_worker_killed_with_sigkill_is_restarted_and_chats_continue(
    tmp_path: Path,
) -> None:
    with trio.fail_after(120):
        async with serve_workers(tmp_path) as service:
            await service.wait_for_log("with 2 workers")
            pids = await _worker_pids(service, 2)
            os.kill(pids[0], signal.SIGKILL)
            record = await service.wait_for_log("died (signal SIGKILL)")
            after = await _worker_pids(service, 2)
            async with service.client() as client:
                for _ in range(4):
                    response = await client.post("/v1/chat/completions", json=CHAT)
                    assert response.status_code == 200
                    assert response.json()["choices"][0]["message"]["content"]
            service.process.send_signal(signal.SIGTERM)
            returncode = await service.process.wait()
    assert record["level"] == "ERROR"
    assert after[0] != pids[0]
    assert after[1] == pids[1]
    assert returncode == 0


async def test_sigterm_stops_every_worker_and_the_supervisor_exits_0(tmp_path: Path) -> None:
    with trio.fail_after(120):
        async with serve_workers(tmp_path) as service:
            await service.wait_for_log("with 2 workers")
            pids = await _worker_pids(service, 2)
            service.process.send_signal(signal.SIGTERM)
            returncode = await service.process.wait()
            await service.wait_for_log("stopped cleanly")
    assert returncode == 0
    assert not any(_alive(pid) for pid in pids.values())
    assert not service.socket_path.exists()


async def test_workers_end_with_their_supervisor_when_it_is_killed(tmp_path: Path) -> None:
    with trio.fail_after(120):
        async with serve_workers(tmp_path) as service:
            await service.wait_for_log("with 2 workers")
            pids = await _worker_pids(service, 2)
            service.process.kill()
            await service.process.wait()
            await wait_until(lambda: not any(_alive(pid) for pid in pids.values()), limit_s=60)
        # Nothing answers on the socket any more: the next start can claim it.
        async with serve_workers(tmp_path) as again:
            await again.wait_for_log("with 2 workers")
            again.process.send_signal(signal.SIGTERM)
            assert await again.process.wait() == 0
