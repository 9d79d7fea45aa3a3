"""``pipe-service serve --workers 2`` as real processes: one supervisor process, two workers.

The workers share the supervisor's sockets; a worker killed with SIGKILL is restarted while the
other keeps serving; SIGTERM stops every worker and the supervisor exits 0; ``/status`` says
which worker answered and lists both. Operator changes (``set``, reload, SIGHUP, catalog
refresh) reach both workers whichever one received them, and a restarted worker starts with
the settings in force; ``/metrics`` labels both workers' samples.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from tests.process.test_serve_process import ServeProcess, _env
from tests.service.conftest import wait_until

CHAT = {"model": "sim/text", "messages": [{"role": "user", "content": "hello"}]}


@asynccontextmanager
async def serve_workers(
    tmp_path: Path, *, workers: int = 2, config: Path | None = None, own_group: bool = False
) -> AsyncIterator[ServeProcess]:
    """``own_group``: the service leads a process group of its own (a test may signal it)."""
    options = [] if config is None else ["--config", str(config)]
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "pipe_service", *options, "serve", "--workers", str(workers)],
        env=_env(tmp_path, PIPE_SERVICE_RESTART_BACKOFF_INITIAL_S="0.05"),
        stderr=-1,
        stdout=-1,
        start_new_session=own_group,
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


async def test_sigterm_to_the_whole_process_group_still_stops_every_worker_gracefully(
    tmp_path: Path,
) -> None:
    """What systemd (KillMode=control-group) and a terminal's Ctrl-C do: every process gets
    the signal, and the supervisor's own request to stop must not be a second, fatal one."""
    with trio.fail_after(120):
        async with serve_workers(tmp_path, own_group=True) as service:
            await service.wait_for_log("with 2 workers")
            pids = await _worker_pids(service, 2)
            os.killpg(service.process.pid, signal.SIGTERM)
            returncode = await service.process.wait()
            await service.wait_for_log("stopping the workers")
            with pytest.raises(AssertionError, match="process ended"):  # read the whole log
                await service.wait_for_log("a line nobody logs")
    stopped = [record for record in service.log if record.get("msg") == "stopped cleanly"]
    assert returncode == 0
    assert len(stopped) == 3  # both workers and the supervisor
    assert not any(_alive(pid) for pid in pids.values())


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


async def _fleet(service: ServeProcess) -> list[dict[str, Any]]:
    """Every worker's entry in ``/status`` (whichever worker answers)."""
    async with service.client() as client:
        status = (await client.get("/status")).json()
    workers: list[dict[str, Any]] = status["workers"]
    return workers


async def _slots(service: ServeProcess) -> list[int | None]:
    return [
        entry["status"]["admission"]["slots"] if "status" in entry else None
        for entry in await _fleet(service)
    ]


async def test_a_set_reaches_both_workers_and_a_restarted_worker_starts_with_it(
    tmp_path: Path,
) -> None:
    with trio.fail_after(120):
        async with serve_workers(tmp_path) as service:
            await service.wait_for_log("with 2 workers")
            async with service.client() as client:
                response = await client.post(
                    "/admin/settings", json={"key": "admission.slots", "value": "5"}
                )
            before = await _slots(service)
            pids = await _worker_pids(service, 2)
            os.kill(pids[1], signal.SIGKILL)
            await service.wait_for_log("died (signal SIGKILL)")

            async def restarted() -> bool:
                entry = (await _fleet(service))[1]
                return entry["state"] == "serving" and entry["pid"] != pids[1]

            await wait_until(restarted, limit_s=60)
            after = await _slots(service)
            fleet = await _fleet(service)
            async with service.client() as client:
                exposition = (await client.get("/metrics")).text
            service.process.send_signal(signal.SIGTERM)
            returncode = await service.process.wait()

    assert response.status_code == 200
    assert response.json()["applied"] == ["admission.slots"]
    assert [o["outcome"] for o in response.json()["workers"]] == ["applied", "applied"]
    assert before == [5, 5]
    assert after == [5, 5]  # the restarted worker runs with the setting, not the startup one
    assert [entry["process_restarts"] for entry in fleet] == [0, 1]
    slots = {
        sample.labels["worker"]: sample.value
        for family in text_string_to_metric_families(exposition)
        if family.name == "pipe_service_admission_slots"
        for sample in family.samples
    }
    assert slots == {"0": 5.0, "1": 5.0}
    assert returncode == 0


async def test_reload_sighup_and_catalog_refresh_reach_both_workers(tmp_path: Path) -> None:
    config = tmp_path / "pipe-service.toml"
    config.write_text("[admission]\nslots = 3\n")
    with trio.fail_after(120):
        async with serve_workers(tmp_path, config=config) as service:
            await service.wait_for_log("with 2 workers")
            started = await _slots(service)
            config.write_text("[admission]\nslots = 4\n")
            service.process.send_signal(signal.SIGHUP)
            record = await service.wait_for_log("reloaded on SIGHUP")
            on_sighup = await _slots(service)
            config.write_text("[admission]\nslots = 6\n")
            async with service.client() as client:
                reloaded = await client.post("/admin/reload")
                on_route = await _slots(service)
                fetches = [entry["status"]["catalog"]["fetches"] for entry in await _fleet(service)]
                refresh = await client.post("/admin/catalog/refresh")

            async def refetched() -> bool:
                now = [entry["status"]["catalog"]["fetches"] for entry in await _fleet(service)]
                return all(n > before for n, before in zip(now, fetches, strict=True))

            await wait_until(refetched, limit_s=30)
            set_by_cli = await _cli(tmp_path, "set", "admission.queue=50")
            status_by_cli = await _cli(tmp_path, "status")
            service.process.send_signal(signal.SIGTERM)
            assert await service.process.wait() == 0

    assert started == [3, 3]
    assert record["workers"] == "0:applied,1:applied"
    assert on_sighup == [4, 4]
    assert reloaded.status_code == 200
    assert on_route == [6, 6]
    assert refresh.status_code == 202
    assert [o["outcome"] for o in refresh.json()["workers"]] == ["queued", "queued"]
    assert "applied: admission.queue" in set_by_cli
    assert "worker 0 (pid" in set_by_cli
    assert "worker 1 (pid" in set_by_cli
    assert "Workers (supervisor pid" in status_by_cli
    assert status_by_cli.count("serving") >= 2


async def _cli(tmp_path: Path, *args: str) -> str:
    """Run ``pipe-service ARGS`` against the service in ``tmp_path``; what it printed."""
    finished = await trio.run_process(
        [sys.executable, "-m", "pipe_service", *args],
        env={**_env(tmp_path), "COLUMNS": "200"},
        capture_stdout=True,
        capture_stderr=True,
    )
    return finished.stdout.decode()
