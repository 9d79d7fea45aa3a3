"""How the supervisor process stops its workers, with real child processes standing in for them.

A service manager (systemd's ``KillMode=control-group``) or a terminal's Ctrl-C signals the
whole process group: each worker begins its graceful stop on its own SIGTERM, then may close
its control channel before the supervisor, busy elsewhere, asks it to stop. A SIGTERM from the
supervisor then would be the worker's second one, which ends it at once (exit 70 under load,
found in the tenth-run check of issue 8). The supervisor must treat a closed channel as "it is
already stopping", and a worker that was not serving yet and ends by the supervisor's own
SIGTERM as stopped, not failed; any other ending while stopping is logged and fails the exit.

Each child stands for a worker that finishes its stop when its stdin closes (as a worker does
when its supervisor is gone), so the test decides when it ends, without sleeping.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
import trio.testing

from pipe_service.config import Settings
from pipe_service.config.live import LiveSettings
from pipe_service.worker_pool import EXIT_ACTOR_FAILED, EXIT_OK, WorkerPool, _Worker
from pipe_service.workers.admin_hub import AdminHub
from pipe_service.workers.control import ControlChannel
from pipe_service.workers.handoff import WorkerHandoff


@dataclass
class Stopping:
    """A pool of one worker: its process, the supervisor's channel to it and the worker's end."""

    pool: WorkerPool
    process: trio.Process
    channel: ControlChannel
    worker_end: trio.SocketStream

    async def stop_then_end(self, *, by_signal: bool = False) -> int:
        """Run the pool's stop; once it waits on the worker, let the worker finish (or, with
        ``by_signal``, end it with a SIGTERM the supervisor did not send); the exit code."""
        assert self.process.stdin is not None
        self.pool.stop("signal SIGTERM")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.pool._stop_all, [_Worker(0, self.process)])
            await trio.testing.wait_all_tasks_blocked()
            if self.process.returncode is None:
                if by_signal:
                    self.process.send_signal(signal.SIGTERM)
                else:
                    await self.process.stdin.aclose()
        return self.pool._exit_code


@asynccontextmanager
async def one_worker(
    tmp_path: Path, *, exit_code: int = 0, serving: bool = True, worker_closed_it: bool = False
) -> AsyncIterator[Stopping]:
    """A child that exits ``exit_code`` once its stdin closes (SIGTERM ends it at once), linked
    to the pool as worker 0, ``serving`` or still starting; ``worker_closed_it``: the worker
    already closed its end of the channel (it is stopping on a signal of its own)."""
    settings = Settings.model_validate({"var_dir": tmp_path})
    pool = WorkerPool(
        settings,
        hub=AdminHub(LiveSettings(settings), 1),
        argv=[],
        handoff=WorkerHandoff(index=0, count=1, fds=()),
    )
    code = f"import sys; sys.stdin.buffer.read(); sys.exit({exit_code})"
    process = await trio.lowlevel.open_process([sys.executable, "-c", code], stdin=subprocess.PIPE)
    ours, theirs = trio.socket.socketpair()
    channel = ControlChannel(trio.SocketStream(ours), peer="worker 0")
    worker_end = trio.SocketStream(theirs)
    try:
        if worker_closed_it:
            await worker_end.aclose()
        pool.hub.attach(0, channel)
        if serving:
            pool.hub.mark_serving(0, channel, process.pid)
        yield Stopping(pool, process, channel, worker_end)
    finally:
        with trio.move_on_after(10, shield=True):
            if process.returncode is None:
                process.kill()
            await process.wait()
            if process.stdin is not None:
                await process.stdin.aclose()
            await channel.aclose()
            await worker_end.aclose()


async def test_a_serving_worker_whose_channel_closed_is_not_signalled_a_second_time(
    tmp_path: Path,
) -> None:
    async with one_worker(tmp_path, worker_closed_it=True) as worker:
        with trio.fail_after(30):
            exit_code = await worker.stop_then_end()
    assert worker.process.returncode == 0  # it finished its own stop; no SIGTERM cut it short
    assert exit_code == EXIT_OK


async def test_a_serving_worker_is_asked_over_its_channel(tmp_path: Path) -> None:
    async with one_worker(tmp_path) as worker:
        with trio.fail_after(30):
            exit_code = await worker.stop_then_end()
            asked = await worker.worker_end.receive_some(4096)
    assert b'"op":"stop"' in asked
    assert b"signal SIGTERM" in asked
    assert (worker.process.returncode, exit_code) == (0, EXIT_OK)


async def test_a_starting_worker_ended_by_the_supervisors_sigterm_is_a_clean_stop(
    tmp_path: Path,
) -> None:
    async with one_worker(tmp_path, serving=False) as worker:
        with trio.fail_after(30):
            exit_code = await worker.stop_then_end()
    assert worker.process.returncode == -signal.SIGTERM
    assert exit_code == EXIT_OK


async def test_a_worker_that_fails_while_stopping_fails_the_exit_and_is_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with one_worker(tmp_path, exit_code=3) as worker:
        with caplog.at_level(logging.ERROR, logger="pipe_service.workers"), trio.fail_after(30):
            exit_code = await worker.stop_then_end()
    assert exit_code == EXIT_ACTOR_FAILED
    assert f"worker pid {worker.process.pid} ended exit 3 while stopping" in caplog.text


async def test_a_serving_worker_cut_by_another_sigterm_while_stopping_fails_the_exit(
    tmp_path: Path,
) -> None:
    """Only the supervisor's own SIGTERM to a worker that was not serving is a clean ending:
    a serving worker cut short by a signal lost its streams."""
    async with one_worker(tmp_path) as worker:
        with trio.fail_after(30):
            exit_code = await worker.stop_then_end(by_signal=True)
    assert worker.process.returncode == -signal.SIGTERM
    assert exit_code == EXIT_ACTOR_FAILED
