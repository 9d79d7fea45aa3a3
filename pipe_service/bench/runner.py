"""Run a :class:`BenchPlan`: per scenario, fresh processes, then every concurrency level.

For each scenario the runner starts a simulator with the scenario's pacing and a sidecar in
front of it, warms both paths up (and takes the simulator's answer as the reference text), then
for each concurrency level runs ``rounds`` x (a baseline batch, an OpenAI chat API batch, a
Responses API batch through the sidecar, then a shim-protocol batch), so slow drift of the
machine hits every path alike. Sidecar CPU is read around each of its batches separately; RSS
is sampled during them.
"""

from __future__ import annotations

import os
import platform
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx
import trio

from pipe_service.bench.plan import BenchPlan, Scenario
from pipe_service.bench.proc_stats import RssPeak, rss_bytes, tree_cpu_seconds
from pipe_service.bench.processes import (
    BenchSetupError,
    Sidecar,
    Simulator,
    client_limits,
    start_sidecar,
    start_simulator,
    uds_client,
)
from pipe_service.bench.results import BenchReport, LevelResult, Machine, PathResult, SidecarCost
from pipe_service.bench.shim_stream import pipe_stream
from pipe_service.bench.streams import (
    StreamSample,
    chat_completions_stream,
    responses_stream,
    sidecar_responses_stream,
)

__all__ = ["BenchSetupError", "StreamFn", "batch", "machine", "run_bench"]

Progress = Callable[[str], None]
StreamFn = Callable[[], Awaitable[StreamSample]]


async def run_bench(
    plan: BenchPlan, *, work_dir: Path | None = None, progress: Progress | None = None
) -> BenchReport:
    """Run every scenario of ``plan`` and return the report.

    ``work_dir`` holds the sidecars' var dirs and the process logs (default: a temporary
    directory removed afterwards). Raises :class:`BenchSetupError` (inside an ExceptionGroup)
    when a process cannot be started or the warm-up fails.
    """
    say = progress or (lambda _message: None)
    report = BenchReport(machine=machine(), sidecar_settings=dict(plan.sidecar_settings))
    started = trio.current_time()
    with tempfile.TemporaryDirectory(prefix="pipe-bench-") as default_dir:
        run_dir = work_dir or Path(default_dir)
        for scenario in plan.scenarios:
            say(f"scenario {scenario.name}: starting simulator and sidecar")
            report.levels += await _run_scenario(plan, scenario, run_dir, say, report.notes)
    report.duration_s = trio.current_time() - started
    report.machine = machine(load_before=report.machine.load_before)
    return report


async def _run_scenario(
    plan: BenchPlan, scenario: Scenario, run_dir: Path, say: Progress, notes: list[str]
) -> list[LevelResult]:
    var_dir = run_dir / scenario.name
    var_dir.mkdir(parents=True, exist_ok=True)
    async with trio.open_nursery() as nursery:
        simulator = await start_simulator(nursery, scenario, run_dir, limit_s=plan.startup_limit_s)
        sidecar = await start_sidecar(
            nursery,
            simulator,
            var_dir,
            run_dir,
            slots=plan.max_concurrency * 2,
            extra_env=plan.sidecar_settings,
            limit_s=plan.startup_limit_s,
            workers=plan.workers,
        )
        levels = await _measure_scenario(plan, scenario, simulator, sidecar, say, notes)
        # The processes run under trio.run_process: cancelling sends SIGTERM, then SIGKILL.
        nursery.cancel_scope.cancel()
    return levels


@dataclass(slots=True)
class _Paths:
    """The stream functions of one scenario, plus what the simulator's answer looks like."""

    baseline: StreamFn
    sidecar: StreamFn
    responses: StreamFn
    shim: StreamFn | None
    reference_text: str = ""
    deltas_per_stream: int = 0


@dataclass(slots=True)
class _Tally:
    """One path's samples and costs, summed over the rounds of a level."""

    pid: int
    """The process whose RSS is sampled (the worker that answered /status)."""
    cpu_pid: int
    """The process whose CPU, with its children's, is counted (``serve`` itself)."""
    samples: list[StreamSample] = field(default_factory=list)
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak: RssPeak = field(init=False)

    def __post_init__(self) -> None:
        self.peak = RssPeak(self.pid)


async def _measure_scenario(
    plan: BenchPlan,
    scenario: Scenario,
    simulator: Simulator,
    sidecar: Sidecar,
    say: Progress,
    notes: list[str],
) -> list[LevelResult]:
    connections = plan.max_concurrency
    limits = client_limits(connections)
    async with (
        httpx.AsyncClient(base_url=simulator.base_url, limits=limits, timeout=None) as direct,
        uds_client(sidecar.socket_path, connections=connections) as via_sidecar,
    ):
        paths = _Paths(
            baseline=partial(responses_stream, direct),
            sidecar=partial(chat_completions_stream, via_sidecar),
            responses=partial(sidecar_responses_stream, via_sidecar),
            shim=partial(pipe_stream, sidecar.socket_path) if plan.include_shim else None,
        )
        await _warm_up(plan, scenario, paths, notes)
        idle = await _idle_cpu_fraction(sidecar.launcher_pid, plan.idle_sample_s)
        notes.append(
            f"{scenario.name}: idle sidecar used {idle:.1%} of a core "
            f"(over {plan.idle_sample_s:g} s after the warm-up; included in the CPU figures)"
        )
        levels = []
        for concurrency in plan.concurrency:
            say(f"scenario {scenario.name}: {concurrency} concurrent streams x {plan.rounds}")
            levels.append(await _measure_level(plan, scenario, paths, sidecar, concurrency))
    return levels


async def _idle_cpu_fraction(pid: int, sample_s: float) -> float:
    """The sidecar's background CPU use with no request open (timers, periodic actors)."""
    before = tree_cpu_seconds(pid)
    await trio.sleep(sample_s)
    return (tree_cpu_seconds(pid) - before) / sample_s


async def _warm_up(plan: BenchPlan, scenario: Scenario, paths: _Paths, notes: list[str]) -> None:
    """Open connections on every path and learn the reference answer from the simulator.

    The shim path is optional: when its warm-up fails it is dropped with a note.
    """
    limit_s = scenario.stream_limit_s()
    for _ in range(plan.warmup_streams):
        samples, _wall = await batch(paths.baseline, 1, limit_s)
        if not samples or not samples[0].ok:
            raise BenchSetupError(f"warm-up stream to the simulator failed: {samples}")
        paths.reference_text = samples[0].text
        paths.deltas_per_stream = samples[0].text_events
        for relayed in (paths.sidecar, paths.responses):
            samples, _wall = await batch(relayed, 1, limit_s)
            if not samples or not samples[0].ok or samples[0].text != paths.reference_text:
                raise BenchSetupError(f"warm-up stream through the sidecar failed: {samples}")
        if paths.shim is not None:
            samples, _wall = await batch(paths.shim, 1, limit_s)
            if not samples or not samples[0].ok or samples[0].text != paths.reference_text:
                notes.append(f"{scenario.name}: shim path skipped, warm-up failed: {samples}")
                paths.shim = None


async def _measure_level(
    plan: BenchPlan, scenario: Scenario, paths: _Paths, process: Sidecar, concurrency: int
) -> LevelResult:
    limit_s = scenario.stream_limit_s()
    pid, cpu_pid = process.pid, process.launcher_pid
    baseline, sidecar, shim = _Tally(pid, cpu_pid), _Tally(pid, cpu_pid), _Tally(pid, cpu_pid)
    responses = _Tally(pid, cpu_pid)
    rss_idle = rss_bytes(pid)
    for _ in range(plan.rounds):
        samples, wall = await batch(paths.baseline, concurrency, limit_s)
        baseline.samples += samples
        baseline.wall_s += wall
        await _relayedbatch(paths.sidecar, sidecar, concurrency, limit_s)
        await _relayedbatch(paths.responses, responses, concurrency, limit_s)
        if paths.shim is not None:
            await _relayedbatch(paths.shim, shim, concurrency, limit_s)
    streams = concurrency * plan.rounds

    def result(tally: _Tally) -> PathResult:
        return PathResult.of(
            tally.samples,
            expected_streams=streams,
            reference_text=paths.reference_text,
            deltas_per_stream=paths.deltas_per_stream,
            wall_s=tally.wall_s,
        )

    def cost(tally: _Tally, relayed: PathResult) -> SidecarCost:
        return SidecarCost(
            cpu_s=tally.cpu_s,
            requests=streams,
            upstream_deltas=relayed.upstream_deltas,
            client_chunks=relayed.text_events,
            rss_idle_bytes=rss_idle,
            rss_peak_bytes=tally.peak.bytes,
            concurrency=concurrency,
        )

    sidecar_result = result(sidecar)
    responses_result = result(responses)
    shim_result = result(shim) if paths.shim is not None else None
    return LevelResult(
        scenario=scenario.name,
        concurrency=concurrency,
        rounds=plan.rounds,
        deltas_per_stream=paths.deltas_per_stream,
        baseline=result(baseline),
        sidecar=sidecar_result,
        sidecar_cost=cost(sidecar, sidecar_result),
        shim=shim_result,
        shim_cost=cost(shim, shim_result) if shim_result is not None else None,
        responses=responses_result,
        responses_cost=cost(responses, responses_result),
    )


async def _relayedbatch(stream: StreamFn, tally: _Tally, concurrency: int, limit_s: float) -> None:
    """A batch through the sidecar, with its CPU time read around it and its RSS sampled."""
    cpu_before = tree_cpu_seconds(tally.cpu_pid)
    async with trio.open_nursery() as sampler:
        await sampler.start(tally.peak.run)
        samples, wall = await batch(stream, concurrency, limit_s)
        sampler.cancel_scope.cancel()
    tally.cpu_s += tree_cpu_seconds(tally.cpu_pid) - cpu_before
    tally.samples += samples
    tally.wall_s += wall


async def batch(stream: StreamFn, count: int, limit_s: float) -> tuple[list[StreamSample], float]:
    """``count`` streams at once, and the batch's wall time; streams still running after
    ``limit_s`` are left out."""
    samples: list[StreamSample] = []

    async def one() -> None:
        samples.append(await stream())

    started = trio.current_time()
    with trio.move_on_after(limit_s):
        async with trio.open_nursery() as nursery:
            for _ in range(count):
                nursery.start_soon(one)
    return samples, trio.current_time() - started


def machine(load_before: tuple[float, float, float] | None = None) -> Machine:
    """This machine, with the load average now (and ``load_before`` as the run's start)."""
    load_now = os.getloadavg()
    return Machine(
        cpus=os.cpu_count() or 0,
        cpu_model=_cpu_model(),
        python=platform.python_version(),
        load_before=load_before or load_now,
        load_after=load_now if load_before else (0.0, 0.0, 0.0),
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:  # not Linux: the model is only informative
        return platform.processor() or "unknown"
    return platform.processor() or "unknown"
