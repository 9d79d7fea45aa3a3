"""``pipe-service bench --owui``: the shim and a trivial passthrough pipe inside a real Open WebUI.

One run starts four processes: the simulator (one pacing), a sidecar in front of it, and Open
WebUI 0.12.4 from the end-to-end suite's venv (``OWUI_VENV``), with two Functions installed
through the installer: the shim (``openrouter``, ``SIDECAR_ADDRESSES`` = the sidecar's socket)
and :mod:`pipe_service.bench.passthrough_pipe` (``passthrough``, straight to the simulator). The
load generator (this process) streams ``POST /api/chat/completions`` with the admin's API key.

Per concurrency level, ``rounds`` x (a shim batch, then a passthrough batch); Open WebUI's and
the sidecar's CPU (``/proc/<pid>/stat``, the process and its children) are read around every
batch. The simulator's CPU is nobody's cost here and is not read.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Final

import httpx
import trio

from pipe_service.bench.owui_process import (
    DEFAULT_OWUI_VENV,
    OwuiAdmin,
    OwuiSetupError,
    owui_command,
    owui_environment,
    require_owui_venv,
    sign_up_admin,
)
from pipe_service.bench.owui_results import OwuiLevel, OwuiReport
from pipe_service.bench.plan import MODEL, QUICK_SCENARIOS, SCENARIOS, Scenario
from pipe_service.bench.proc_stats import tree_cpu_seconds
from pipe_service.bench.processes import (
    BenchSetupError,
    Sidecar,
    Simulator,
    client_limits,
    free_port,
    start_logged,
    start_sidecar,
    start_simulator,
    wait_ready,
)
from pipe_service.bench.results import PathResult
from pipe_service.bench.runner import StreamFn, batch, machine
from pipe_service.bench.streams import (
    BENCH_API_KEY,
    StreamSample,
    owui_chat_stream,
    responses_stream,
)
from pipe_service.catalog.model_ids import slug_to_owui_id
from pipe_service.installer.errors import InstallError
from pipe_service.installer.install import InstallOptions, install_shim
from pipe_service.installer.owui_api import OpenWebUI

SHIM_FUNCTION_ID: Final = "openrouter"
PASSTHROUGH_FUNCTION_ID: Final = "passthrough"
PASSTHROUGH_FILE: Final = Path(__file__).resolve().parent / "passthrough_pipe.py"
PATHS: Final = ("shim", "passthrough")

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class OwuiPlan:
    """One ``--owui`` run: a simulator pacing, the concurrency levels, rounds per level."""

    scenario: Scenario
    concurrency: tuple[int, ...] = (1, 20, 50)
    rounds: int = 3
    warmup_streams: int = 2
    idle_sample_s: float = 2.0
    startup_limit_s: float = 60.0
    owui_start_limit_s: float = 240.0
    """Open WebUI needs ~16 s on an idle machine, minutes on a loaded one."""
    venv: Path = DEFAULT_OWUI_VENV
    sidecar_settings: dict[str, str] = field(default_factory=dict)
    paths: tuple[str, ...] = PATHS
    """Which pipes to measure (one alone, e.g. to profile it)."""

    def __post_init__(self) -> None:
        unknown = set(self.paths) - set(PATHS)
        if not self.paths or unknown:
            raise ValueError(f"pipes must be some of {', '.join(PATHS)}; got {self.paths}")
        if not self.concurrency or min(self.concurrency) < 1:
            raise ValueError("concurrency levels must be positive integers")
        if self.rounds < 1:
            raise ValueError("rounds must be at least 1")


def owui_plan(*, quick: bool, venv: Path, scenario_name: str = "paced") -> OwuiPlan:
    """Paced streams at 1, 20 and 50, 3 rounds; ``quick``: the 20-delta pacing, 1 and 2, once."""
    table = QUICK_SCENARIOS if quick else SCENARIOS
    if scenario_name not in table:
        raise ValueError(f"unknown scenario {scenario_name!r}; known: {', '.join(table)}")
    if quick:
        return OwuiPlan(
            table[scenario_name], (1, 2), rounds=1, warmup_streams=1, idle_sample_s=0.5, venv=venv
        )
    return OwuiPlan(table[scenario_name], venv=venv)


async def run_owui_bench(
    plan: OwuiPlan, *, work_dir: Path | None = None, progress: Progress | None = None
) -> OwuiReport:
    """Run ``plan`` and return the report; :class:`BenchSetupError` (in an ExceptionGroup) when
    a process cannot be started, Open WebUI cannot be prepared or a warm-up stream fails."""
    say = progress or (lambda _message: None)
    try:
        venv = require_owui_venv(plan.venv)
    except OwuiSetupError as exc:
        raise BenchSetupError(str(exc)) from None
    report = OwuiReport(
        machine=machine(), scenario=plan.scenario.name, sidecar_settings=plan.sidecar_settings
    )
    started = trio.current_time()
    with tempfile.TemporaryDirectory(prefix="pipe-bench-owui-") as default_dir:
        run_dir = work_dir or Path(default_dir)
        async with trio.open_nursery() as nursery:
            say("starting Open WebUI, the simulator and the sidecar")
            owui_process, url = await _start_owui(nursery, venv, run_dir)
            simulator = await start_simulator(
                nursery, plan.scenario, run_dir, limit_s=plan.startup_limit_s
            )
            sidecar = await start_sidecar(
                nursery,
                simulator,
                run_dir / "sidecar",
                run_dir,
                slots=max(plan.concurrency) * 2,
                extra_env=plan.sidecar_settings,
                limit_s=plan.startup_limit_s,
            )

            async def healthy() -> bool:
                async with httpx.AsyncClient() as client:
                    answer = await client.get(f"{url}/health")
                return answer.status_code == httpx.codes.OK

            await wait_ready(
                "open-webui",
                owui_process,
                healthy,
                run_dir / "open-webui.log",
                limit_s=plan.owui_start_limit_s,
            )
            say("Open WebUI answers: signing up the admin, installing the two pipes")
            admin = await trio.to_thread.run_sync(_prepare, url, simulator, sidecar)
            await _measure(plan, report, admin, simulator, sidecar, owui_process.pid, say)
            # The processes run under trio.run_process: cancelling sends SIGTERM, then SIGKILL.
            nursery.cancel_scope.cancel()
    report.duration_s = trio.current_time() - started
    report.machine = machine(load_before=report.machine.load_before)
    return report


async def _start_owui(nursery: trio.Nursery, venv: Path, run_dir: Path) -> tuple[trio.Process, str]:
    data_dir = run_dir / "owui-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = await start_logged(
        nursery,
        owui_command(venv, port),
        owui_environment(data_dir),
        run_dir / "open-webui.log",
        cwd=data_dir,  # it writes stray files into the cwd
    )
    return process, f"http://127.0.0.1:{port}"


def _prepare(url: str, simulator: Simulator, sidecar: Sidecar) -> OwuiAdmin:
    """The admin, and both Functions installed with the installer (no Direct Uploads filter:
    its inlet would run for both pipes alike and is not what is compared)."""
    try:
        admin = sign_up_admin(url)
        with OpenWebUI(url, admin.api_key) as owui:
            shim = install_shim(
                owui,
                InstallOptions(
                    function_id=SHIM_FUNCTION_ID,
                    valves={"SIDECAR_ADDRESSES": f"unix:{sidecar.socket_path}"},
                    direct_uploads=False,
                ),
            )
            passthrough = install_shim(
                owui,
                InstallOptions(
                    function_id=PASSTHROUGH_FUNCTION_ID,
                    shim_file=PASSTHROUGH_FILE,
                    valves={"BASE_URL": simulator.base_url, "API_KEY": BENCH_API_KEY},
                    direct_uploads=False,
                ),
            )
    except (OwuiSetupError, InstallError, httpx.HTTPError) as exc:
        raise BenchSetupError(f"preparing Open WebUI: {exc}") from exc
    listed = {str(model.get("id")) for model in [*shim.models, *passthrough.models]}
    for model in _models().values():
        if model not in listed:
            raise BenchSetupError(f"Open WebUI does not list {model} (it lists {sorted(listed)})")
    return admin


def _models() -> dict[str, str]:
    """Open WebUI's model id for each path."""
    return {
        "shim": f"{SHIM_FUNCTION_ID}.{slug_to_owui_id(MODEL)}",
        "passthrough": PASSTHROUGH_FUNCTION_ID,
    }


async def _measure(
    plan: OwuiPlan,
    report: OwuiReport,
    admin: OwuiAdmin,
    simulator: Simulator,
    sidecar: Sidecar,
    owui_pid: int,
    say: Progress,
) -> None:
    connections = max(plan.concurrency)
    limit_s = plan.scenario.stream_limit_s()
    async with (
        httpx.AsyncClient(base_url=simulator.base_url, timeout=None) as direct,
        httpx.AsyncClient(
            base_url=admin.url,
            headers={"Authorization": f"Bearer {admin.api_key}"},
            limits=client_limits(connections),
            timeout=None,
        ) as through_owui,
    ):
        streams: dict[str, StreamFn] = {
            path: partial(owui_chat_stream, through_owui, model)
            for path, model in _models().items()
            if path in plan.paths
        }
        reference, deltas = await _warm_up(plan, partial(responses_stream, direct), streams)
        report.deltas_per_stream = deltas
        before = tree_cpu_seconds(owui_pid)
        await trio.sleep(plan.idle_sample_s)
        idle = (tree_cpu_seconds(owui_pid) - before) / plan.idle_sample_s
        report.notes.append(
            f"idle Open WebUI used {idle:.1%} of a core (over {plan.idle_sample_s:g} s after "
            "the warm-up; included in its CPU figures)"
        )
        for concurrency in plan.concurrency:
            say(f"{concurrency} concurrent streams x {plan.rounds} rounds, shim and passthrough")
            tallies = {path: _Tally() for path in streams}
            for _ in range(plan.rounds):
                for path in streams:
                    await tallies[path].run(
                        streams[path], concurrency, limit_s, owui_pid, sidecar.launcher_pid
                    )
            streams_run = concurrency * plan.rounds
            for path, tally in tallies.items():
                result = PathResult.of(
                    tally.samples,
                    expected_streams=streams_run,
                    reference_text=reference,
                    deltas_per_stream=deltas,
                    wall_s=tally.wall_s,
                )
                report.levels.append(
                    OwuiLevel(
                        path=path,
                        concurrency=concurrency,
                        rounds=plan.rounds,
                        result=result,
                        owui_cpu_s=tally.owui_cpu_s,
                        sidecar_cpu_s=tally.sidecar_cpu_s if path == "shim" else None,
                    )
                )


@dataclass(slots=True)
class _Tally:
    """One path's samples and the two processes' CPU, summed over the rounds of a level."""

    samples: list[StreamSample] = field(default_factory=list)
    wall_s: float = 0.0
    owui_cpu_s: float = 0.0
    sidecar_cpu_s: float = 0.0

    async def run(
        self, stream: StreamFn, concurrency: int, limit_s: float, owui_pid: int, sidecar_pid: int
    ) -> None:
        owui_before, sidecar_before = tree_cpu_seconds(owui_pid), tree_cpu_seconds(sidecar_pid)
        samples, wall = await batch(stream, concurrency, limit_s)
        self.owui_cpu_s += tree_cpu_seconds(owui_pid) - owui_before
        self.sidecar_cpu_s += tree_cpu_seconds(sidecar_pid) - sidecar_before
        self.samples += samples
        self.wall_s += wall


async def _warm_up(
    plan: OwuiPlan, direct: StreamFn, streams: dict[str, StreamFn]
) -> tuple[str, int]:
    """The simulator's answer (the reference text) and its delta count; each pipe must relay
    exactly that text, or the run stops here."""
    limit_s = plan.scenario.stream_limit_s()
    reference, deltas = "", 0
    for _ in range(plan.warmup_streams):
        samples, _wall = await batch(direct, 1, limit_s)
        if not samples or not samples[0].ok:
            raise BenchSetupError(f"warm-up stream to the simulator failed: {samples}")
        reference, deltas = samples[0].text, samples[0].text_events
        for path, stream in streams.items():
            samples, _wall = await batch(stream, 1, limit_s)
            if not samples or not samples[0].ok or samples[0].text != reference:
                raise BenchSetupError(
                    f"warm-up stream through Open WebUI ({path}) failed: {samples}"
                )
    return reference, deltas
