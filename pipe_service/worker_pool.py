"""``pipe-service serve --workers N``: N trio worker processes under one supervisor process.

The supervisor process does, once, everything that must not race between workers, then starts
the workers and keeps them running:

1. holds the instance lock (one service per var dir, as a single process does);
2. generates the TCP token file and prepares the storage (migrations, salt, the artifact key
   file) once, so N workers never race to create them;
3. runs the built-in simulator when it is the upstream (one private socket, one request log);
4. binds the Unix socket and TCP listeners once; every worker inherits them (``pass_fds``) and
   accepts on them, so the kernel spreads connections over the workers;
5. restarts a worker that dies (a signal or an unexpected exit) after an exponential backoff
   (``restart_backoff_initial_s`` … ``restart_backoff_max_s``); more than ``restart_max`` worker
   restarts within ``restart_window_s`` stop the service (exit 70), as one actor's crashes do;
6. owns the live settings of every worker (:mod:`pipe_service.workers.admin_hub`): a worker
   forwards ``pipe-service set``, reload and a catalog refresh to it over its control channel
   (:mod:`pipe_service.workers.control`, one ``socketpair`` per worker run), and the supervisor
   applies the change once, sends it to every worker and answers with each worker's outcome;
   ``/status`` and ``/metrics`` are gathered from every worker the same way. SIGHUP to the
   supervisor reloads the configuration for every worker; a restarted worker starts with the
   live settings in force (they travel in its handoff);
7. on SIGTERM/SIGINT asks every worker to stop (over its control channel; SIGTERM to one that
   is not serving yet) and waits for them to finish their streams within ``shutdown_grace_s``
   (then SIGKILL); exit 0 when they all exit 0 (or, not serving yet, end by that SIGTERM).
   When the whole process group got the signal (systemd, Ctrl-C), a worker that already
   closed its channel is stopping on its own and is not signalled a second time.

A worker that exits 78 (configuration it cannot serve) or 70 (its own actors crashed past their
restart limit) stops the whole service with that code: restarting it would only repeat it.

Each worker runs the whole actor tree of a single process (its own db_writer, catalog,
admission and byte budget); ``/status`` names the worker that answered (``worker``) and lists
every worker (``workers``), and ``/metrics`` labels each worker's samples ``worker="<index>"``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import trio
from sqlalchemy.exc import SQLAlchemyError

from pipe_service.config import ConfigError, Settings, load_settings
from pipe_service.config.live import LiveSettings
from pipe_service.front.api_token import resolve_api_token
from pipe_service.front.serve import bind_front
from pipe_service.instance_lock import (
    InstanceLock,
    claim_socket_path,
    lock_path,
    prepare_var_dir,
    remove_own_socket,
    socket_inode,
)
from pipe_service.simulator.server import serve_simulator
from pipe_service.storage.bootstrap import prepare_artifact_storage
from pipe_service.workers.admin_hub import AdminHub
from pipe_service.workers.control import ControlChannel, ControlChannelClosedError
from pipe_service.workers.handoff import WorkerHandoff

logger = logging.getLogger("pipe_service.workers")

EXIT_OK = 0
EXIT_ACTOR_FAILED = 70
EXIT_CONFIG = 78
_FATAL_EXITS = frozenset({EXIT_ACTOR_FAILED, EXIT_CONFIG})
STORAGE_PREPARE_LIMIT_S = 30.0
"""How long the supervisor tries to prepare the storage before leaving it to the workers."""
KILL_MARGIN_S = 2.0
"""Past ``shutdown_grace_s`` plus this, workers still running are killed."""


def worker_count(requested: int) -> int:
    """``requested`` workers, or one per CPU this process may run on when 0."""
    if requested > 0:
        return requested
    # Python 3.13+ counts what this process may use (affinity, and `-X cpu_count`).
    process_cpu_count: Callable[[], int | None] | None = getattr(os, "process_cpu_count", None)
    if process_cpu_count is not None:
        return max(1, process_cpu_count() or 1)
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def reload_source(config_path: Path | None) -> Callable[[], Settings]:
    """Read the configuration again as the command line did (TOML file + environment)."""
    return lambda: load_settings(os.environ, config_path=config_path)[0]


async def run_workers(settings: Settings, count: int, *, config_path: Path | None) -> int:
    """Run ``count`` workers until SIGTERM/SIGINT; the process exit code (0, 70 or 78)."""
    exit_code = EXIT_CONFIG
    try:
        prepare_var_dir(settings)
        lock = InstanceLock(lock_path(settings))
        lock.acquire()
        try:
            exit_code = await _serve(settings, count, config_path)
        finally:
            lock.release()
    except* ConfigError as refused:
        for problem in refused.exceptions:
            logger.critical("not starting: %s", problem)
            print(f"pipe-service: {problem}", file=sys.stderr, flush=True)
    return exit_code


async def _serve(settings: Settings, count: int, config_path: Path | None) -> int:
    resolve_api_token(settings)
    await _prepare_storage(settings)
    async with trio.open_nursery() as nursery:
        simulator_key, simulator_socket = await _start_simulator(nursery, settings)
        sockets = bind_front(settings)
        inode = socket_inode(settings.effective_socket_path)
        listeners = sockets.insecure_sockets
        try:
            for sock in listeners:
                sock.set_inheritable(True)
            pool = WorkerPool(
                settings,
                hub=AdminHub(
                    LiveSettings(settings, reload_source=reload_source(config_path)), count
                ),
                argv=_worker_argv(config_path),
                handoff=WorkerHandoff(
                    index=0,
                    count=count,
                    fds=tuple(sock.fileno() for sock in listeners),
                    simulator_key=simulator_key,
                    simulator_socket=None if simulator_socket is None else str(simulator_socket),
                ),
            )
            exit_code = await pool.run()
        finally:
            for sock in listeners:
                sock.close()
            remove_own_socket(settings.effective_socket_path, inode)
        nursery.cancel_scope.cancel()  # the simulator
    if exit_code == EXIT_OK:
        logger.info("stopped cleanly")
    return exit_code


async def _prepare_storage(settings: Settings) -> None:
    """Migrate and create the key file once, before any worker starts (no race between them).

    An unreachable database is left to the workers' storage actors, which retry; an unusable
    URL is a configuration error here as in a single process.
    """
    if not settings.persistence.enabled:
        return
    from pipe_service.service import open_database  # the service module imports this package

    async with open_database(settings) as database:
        try:
            with trio.fail_after(STORAGE_PREPARE_LIMIT_S):
                await prepare_artifact_storage(database, settings.persistence, settings.var_dir)
        except (SQLAlchemyError, trio.TooSlowError) as exc:
            logger.warning(
                "storage not prepared before the workers start (%s); each worker retries",
                type(exc).__name__,
            )


async def _start_simulator(
    nursery: trio.Nursery, settings: Settings
) -> tuple[str | None, Path | None]:
    if not settings.uses_simulator:
        return None, None
    from pipe_service.service import SIMULATOR_SOCKET_UMASK, built_in_simulator

    config, key = built_in_simulator(settings)
    socket_path = settings.simulator_socket_path
    claim_socket_path(socket_path, field="var_dir")
    await nursery.start(
        lambda task_status: serve_simulator(
            config,
            binds=[f"unix:{socket_path}"],
            socket_umask=SIMULATOR_SOCKET_UMASK,
            task_status=task_status,
        )
    )
    logger.warning(
        "no OPENROUTER_API_KEY: the built-in OpenRouter simulator is the upstream (private "
        "socket %s); every answer is simulated",
        socket_path,
    )
    return key, socket_path


def _worker_argv(config_path: Path | None) -> list[str]:
    argv = [sys.executable, "-m", "pipe_service"]
    if config_path is not None:
        argv += ["--config", str(config_path)]
    return [*argv, "worker"]


@dataclass
class _Worker:
    index: int
    process: trio.Process | None = None
    restarts: int = 0


@dataclass
class _Spawned:
    process: trio.Process
    ready: trio.lowlevel.FdStream
    """The read end of the worker's readiness pipe."""
    channel: ControlChannel


@dataclass
class WorkerPool:
    """Start, watch, restart and stop the workers; :meth:`run` returns the exit code."""

    settings: Settings
    hub: AdminHub
    argv: Sequence[str]
    handoff: WorkerHandoff
    _stopping: trio.Event = field(default_factory=trio.Event)
    _exit_code: int = EXIT_OK
    _stop_reason: str = ""
    _restart_times: deque[float] = field(default_factory=deque)
    _sent_sigterm: set[int] = field(default_factory=set)
    """Pids of the workers this supervisor stopped with SIGTERM (they were not serving)."""

    async def run(self) -> int:
        """Run every worker until a signal or a fatal worker exit; the exit code."""
        workers = [_Worker(index) for index in range(self.handoff.count)]
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
            async with trio.open_nursery() as nursery:
                # Start them side by side: each takes seconds to import and warm up.
                async with trio.open_nursery() as starting:
                    for worker in workers:
                        starting.start_soon(nursery.start, self._keep_running, worker)
                if not self._stopping.is_set():
                    logger.info(
                        "serving on %s with %d workers",
                        self.settings.effective_socket_path,
                        len(workers),
                    )
                nursery.start_soon(self._on_signals, signals, nursery)
                await self._stopping.wait()
                await self._stop_all(workers)
                nursery.cancel_scope.cancel()
        return self._exit_code

    def stop(self, reason: str, exit_code: int = EXIT_OK) -> None:
        if not self._stopping.is_set():
            logger.info("stopping the workers: %s", reason)
            self._exit_code = exit_code
            self._stop_reason = reason
            self._stopping.set()

    async def _ask_to_stop(self, index: int, process: trio.Process) -> None:
        """A serving worker is asked over its channel, not with SIGTERM: a service manager
        or a terminal's Ctrl-C may have signalled the whole process group already, and a
        second signal ends a worker at once (the way out of a stop that hangs)."""
        link = self.hub.links[index]
        if link.state == "serving" and link.channel is not None:
            # A serving worker closes its channel only once it stops or dies, so a closed one
            # means it got the signal too; a SIGTERM now would be its second, fatal one. The
            # wait in _stop_all (grace, then SIGKILL) still covers a worker that hangs.
            with contextlib.suppress(ControlChannelClosedError):
                await link.channel.notify({"op": "stop", "reason": self._stop_reason})
            return
        # Not serving yet: it may not have its own handler, so a SIGTERM may end it at once;
        # that ending is the stop asked for, not a failure (see _stop_all).
        self._sent_sigterm.add(process.pid)
        process.send_signal(signal.SIGTERM)

    async def _on_signals(self, signals: AsyncIterator[int], nursery: trio.Nursery) -> None:
        """SIGHUP reloads the configuration for every worker; SIGTERM/SIGINT stop them."""
        async for signum in signals:
            if signum == signal.SIGHUP:
                nursery.start_soon(self._reload)
                continue
            self.stop(f"signal {signal.Signals(signum).name}")
            return

    async def _reload(self) -> None:
        answer = await self.hub.reload()
        body = answer["body"]
        if answer["status"] >= 400:
            logger.error("SIGHUP: reload refused, nothing changed: %s", body.get("error"))
            return
        logger.info(
            "reloaded on SIGHUP",
            extra={
                "applied": ",".join(body["applied"]) or "-",
                "needs_restart": ",".join(body["needs_restart"]) or "-",
                "workers": ",".join(f"{o['index']}:{o['outcome']}" for o in body["workers"]),
            },
        )

    async def _keep_running(
        self, worker: _Worker, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run one worker; restart it after a backoff each time it dies unexpectedly.

        ``started()`` once the first run serves (or has ended: the exit code decides)."""
        backoff = self.settings.restart_backoff_initial_s
        starting = True
        while not self._stopping.is_set():
            spawned = await self._spawn(worker)
            process = worker.process = spawned.process
            async with trio.open_nursery() as linked:
                await linked.start(spawned.channel.serve, partial(self.hub.answer, worker.index))
                if await _wait_ready(spawned.ready):
                    self.hub.mark_serving(worker.index, spawned.channel, process.pid)
                if starting:
                    task_status.started()
                    starting = False
                code = await process.wait()
                self.hub.detach(worker.index, spawned.channel)
                linked.cancel_scope.cancel()
            await _close_stdin(process)
            if self._stopping.is_set():
                return
            if code in _FATAL_EXITS:
                self.stop(f"worker {worker.index} exited {code}", exit_code=code)
                return
            if not self._may_restart():
                logger.critical(
                    "stopping: worker %d keeps dying (%d restarts within %.0f s)",
                    worker.index,
                    self.settings.restart_max,
                    self.settings.restart_window_s,
                )
                self.stop("worker restart limit", exit_code=EXIT_ACTOR_FAILED)
                return
            worker.restarts += 1
            logger.error(
                "worker %d (pid %d) died (%s); restart %d in %.2f s",
                worker.index,
                process.pid,
                _describe_exit(code),
                worker.restarts,
                backoff,
            )
            with trio.move_on_after(backoff):
                await self._stopping.wait()
            backoff = min(backoff * 2, self.settings.restart_backoff_max_s)

    def _may_restart(self) -> bool:
        now = trio.current_time()
        window = self.settings.restart_window_s
        while self._restart_times and now - self._restart_times[0] > window:
            self._restart_times.popleft()
        if len(self._restart_times) >= self.settings.restart_max:
            return False
        self._restart_times.append(now)
        return True

    async def _spawn(self, worker: _Worker) -> _Spawned:
        """Start ``worker`` with its readiness pipe, its control channel and the live
        settings in force."""
        ready_read, ready_write = os.pipe()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        channel = ControlChannel(
            trio.SocketStream(trio.socket.from_stdlib_socket(ours)), peer=f"worker {worker.index}"
        )
        # Snapshot and attach in one step: a change published after this reaches the
        # worker through its channel, one published before is in its handoff.
        generation, live = self.hub.snapshot()
        self.hub.attach(worker.index, channel, process_restarts=worker.restarts)
        handoff = replace(
            self.handoff,
            index=worker.index,
            ready_fd=ready_write,
            control_fd=theirs.fileno(),
            live_generation=generation,
            live=live,
        )
        try:
            process = await trio.lowlevel.open_process(
                list(self.argv),
                stdin=subprocess.PIPE,
                pass_fds=(*handoff.fds, ready_write, theirs.fileno()),
            )
        except BaseException:
            os.close(ready_read)
            self.hub.detach(worker.index, channel)
            ours.close()
            raise
        finally:
            # The worker holds its copies; EOF on either then means it is gone.
            os.close(ready_write)
            theirs.close()
        assert process.stdin is not None
        # The pipe stays open: the worker stops when it reads EOF (this process is gone).
        await process.stdin.send_all(handoff.encode())
        return _Spawned(process, trio.lowlevel.FdStream(ready_read), channel)

    async def _stop_all(self, workers: Sequence[_Worker]) -> None:
        running = [w.process for w in workers if w.process and w.process.returncode is None]
        for worker in workers:
            if worker.process is not None and worker.process.returncode is None:
                await self._ask_to_stop(worker.index, worker.process)
        with trio.move_on_after(self.settings.shutdown_grace_s + KILL_MARGIN_S) as waiting:
            codes = [await process.wait() for process in running]
        if waiting.cancelled_caught:
            for process in running:
                if process.returncode is None:
                    logger.error("worker pid %d did not stop in time; killing it", process.pid)
                    process.kill()
            with trio.move_on_after(KILL_MARGIN_S, shield=True):
                for process in running:
                    await process.wait()
            self._exit_code = self._exit_code or EXIT_ACTOR_FAILED
            return
        failed = [
            (process, code)
            for process, code in zip(running, codes, strict=True)
            if code != 0 and not (code == -signal.SIGTERM and process.pid in self._sent_sigterm)
        ]
        for process, code in failed:
            logger.error("worker pid %d ended %s while stopping", process.pid, _describe_exit(code))
        if self._exit_code == EXIT_OK and failed:
            self._exit_code = EXIT_ACTOR_FAILED
        for worker in workers:
            if worker.process is not None:
                await _close_stdin(worker.process)


async def _close_stdin(process: trio.Process) -> None:
    if process.stdin is not None:
        with trio.move_on_after(1, shield=True):
            await process.stdin.aclose()


async def _wait_ready(ready: trio.lowlevel.FdStream) -> bool:
    """Until the worker says it serves (True), or its end of the pipe closes (it died first)."""
    async with ready:
        return bool(await ready.receive_some(1))


def _describe_exit(code: int) -> str:
    if code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"exit {code}"
