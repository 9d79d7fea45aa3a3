"""A/B on a shared machine: two sidecars (two source trees) against one simulator, interleaved.

Both sidecars run at once (``python -m pipe_service serve`` with ``PYTHONPATH`` set to each
tree); each round streams N chats through the direct path, then A, then B (B then A on odd
rounds), so drift of a busy box hits both alike. CPU per upstream delta comes from
``/proc/<pid>/task/*/schedstat`` (nanoseconds, not 10 ms clock ticks).

    git archive <base> | tar -x -C /tmp/base
    .venv/bin/python scripts/ab_bench.py --a /tmp/base --b . -n 16 --rounds 8 --scenario paced
    .venv/bin/python scripts/ab_bench.py --a /tmp/base --b . -n 16 --scenario paced --profile 30

``--path chat|responses|shim``; ``--scenario paced|burst|quick``; ``--profile S`` instead runs
py-spy (``pip install py-spy``) on B for S seconds under load and writes a collapsed profile.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import httpx
import trio

from pipe_service.bench import plan as bplan
from pipe_service.bench.processes import start_sidecar, start_simulator, uds_client
from pipe_service.bench.shim_stream import pipe_stream
from pipe_service.bench.streams import (
    chat_completions_stream,
    responses_stream,
    sidecar_responses_stream,
)


def cpu_ns(pid: int) -> int:
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except OSError:
            pass
    return total


def q(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, round(p * (len(values) - 1))))
    return values[k]


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True)
    ap.add_argument("--b", required=True)
    ap.add_argument("--scenario", default="paced")
    ap.add_argument("-n", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--path", default="chat")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--set-b", action="append", default=[])
    ap.add_argument("--profile", type=float, default=0)
    ap.add_argument("--profile-out", default="ab-profile")
    args = ap.parse_args()
    scenarios = {**bplan.SCENARIOS, "quick": bplan.QUICK_SCENARIOS["paced"]}
    if args.scenario.startswith("paced:"):
        # paced:first,gap,deltas
        first, gap, deltas = args.scenario.split(":")[1].split(",")
        scenario = bplan.Scenario("custom", float(first), float(gap), int(deltas))
    else:
        scenario = scenarios[args.scenario]
    extra = {}
    for item in args.set:
        k, v = item.split("=", 1)
        extra["PIPE_SERVICE_" + k.upper().replace(".", "__")] = v
    extra_b = dict(extra)
    for item in args.set_b:
        k, v = item.split("=", 1)
        extra_b["PIPE_SERVICE_" + k.upper().replace(".", "__")] = v
    work = Path(tempfile.mkdtemp(prefix="ab-bench-"))
    slots = max(4, 2 * args.n)
    async with trio.open_nursery() as nursery:
        sim = await start_simulator(nursery, scenario, work, limit_s=60)
        sides = {}
        for name, src, env in (("A", args.a, extra), ("B", args.b, extra_b)):
            var = work / f"var-{name}"
            var.mkdir()
            car = await start_sidecar(
                nursery, sim, var, work, slots=slots,
                extra_env={"PYTHONPATH": src, **env}, limit_s=60,
            )
            sides[name] = car
        direct = httpx.AsyncClient(base_url=sim.base_url, timeout=None,
                                   limits=httpx.Limits(max_connections=args.n + 2))
        clients = {k: uds_client(c.socket_path, connections=args.n + 2) for k, c in sides.items()}

        def stream_fn(name: str):
            if args.path == "chat":
                return lambda: chat_completions_stream(clients[name])
            if args.path == "responses":
                return lambda: sidecar_responses_stream(clients[name])
            return lambda: pipe_stream(sides[name].socket_path)

        async def batch(fn):
            out = []
            async def one():
                out.append(await fn())
            async with trio.open_nursery() as n2:
                for _ in range(args.n):
                    n2.start_soon(one)
            return out

        if args.profile:
            for _ in range(2):
                await batch(stream_fn("B"))
            pid = sides["B"].pid
            out = args.profile_out
            async def load():
                while True:
                    await batch(stream_fn("B"))
            nursery.start_soon(load)
            before = cpu_ns(pid)
            await trio.run_process([str(Path(sys.executable).with_name("py-spy")), "record", "-r", "200", "-d", str(int(args.profile)), "-p", str(pid), "-f", "raw", "-o", out + ".txt"], check=False)
            await trio.run_process([str(Path(sys.executable).with_name("py-spy")), "record", "-r", "200", "-d", "1", "-p", str(pid), "-o", out + ".svg"], check=False)
            print("cpu", (cpu_ns(pid) - before) / 1e9)
            nursery.cancel_scope.cancel()
            return
        # warm up
        for name in sides:
            for _ in range(2):
                await batch(stream_fn(name))
        await batch(lambda: responses_stream(direct))
        res = {k: {"cpu": [], "ttft": [], "gap": [], "chunks": [], "err": 0} for k in ("A", "B", "D")}
        for r in range(args.rounds):
            order = ["A", "B"] if r % 2 == 0 else ["B", "A"]
            for name in ["D", *order]:
                if name == "D":
                    samples = await batch(lambda: responses_stream(direct))
                    cpu = 0
                else:
                    pid = sides[name].pid
                    before = cpu_ns(pid)
                    samples = await batch(stream_fn(name))
                    cpu = cpu_ns(pid) - before
                ok = [s for s in samples if s.ok]
                res[name]["err"] += len(samples) - len(ok)
                res[name]["cpu"].append(cpu / (args.n * scenario.deltas) / 1000)
                res[name]["ttft"] += [s.first_text_s * 1000 for s in ok]
                res[name]["gap"] += [s.max_gap_s * 1000 for s in ok if s.max_gap_s is not None]
                res[name]["chunks"] += [s.text_events for s in ok]
        d50 = q(res["D"]["ttft"], 0.5)
        d99 = q(res["D"]["ttft"], 0.99)
        print(f"scenario={args.scenario} n={args.n} rounds={args.rounds} path={args.path} load={open('/proc/loadavg').read().split()[:3]}")
        print(f"direct: ttft p50 {d50:.2f} p99 {d99:.2f} gap p99 {q(res['D']['gap'], .99):.1f}")
        for name in ("A", "B"):
            r_ = res[name]
            print(
                f"{name}: cpu/delta median {statistics.median(r_['cpu']):.1f} us mean {statistics.mean(r_['cpu']):.1f} us; "
                f"ttft p50 {q(r_['ttft'], .5):.2f} (+{q(r_['ttft'], .5) - d50:.2f}) p99 {q(r_['ttft'], .99):.2f} (+{q(r_['ttft'], .99) - d99:.2f}); "
                f"gap p99 {q(r_['gap'], .99):.1f}; chunks/stream {statistics.mean(r_['chunks']) if r_['chunks'] else 0:.1f}; errors {r_['err']}"
            )
        nursery.cancel_scope.cancel()


trio.run(main)
