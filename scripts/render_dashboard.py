"""Render docs/dashboard.png: the Grafana dashboard's panels, drawn from a real run.

Grafana is not installable from the package registries this project uses, so this script does
what Grafana would, for this one dashboard:

1. starts a real sidecar in-process (``start_service``, the built-in OpenRouter simulator as
   upstream, real sockets, SQLite in a temporary directory);
2. drives a short mixed load through its Unix socket for ``--seconds`` (streamed chats at
   rising concurrency, upstream 429/502 errors, one user whose requests keep failing, shim
   tool calls that fail, and a burst over the admission slots);
3. scrapes ``/metrics`` once a second, parsed with ``prometheus_client.parser``;
4. evaluates every panel query of ``docs/grafana-dashboard.json`` on those scrapes with a small
   evaluator for the PromQL forms the dashboard uses (selectors, ``rate``, ``increase``,
   ``sum``/``sum by``, ``histogram_quantile``, ``* number``), with ``[1m]`` windows shortened
   to ``--window`` seconds because the run is short;
5. draws each panel with matplotlib in the dashboard's order and titles.

Run::

    .venv/bin/pip install -e '.[docs]'
    .venv/bin/python scripts/render_dashboard.py --seconds 60 --out docs/dashboard.png
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import trio
import trio_websocket
from prometheus_client.parser import text_string_to_metric_families

from actors import open_supervisor
from pipe_service.config import Settings
from pipe_service.logsink.handler import install_sink_handler
from pipe_service.logsink.writer import StreamLogWriter
from pipe_service.service import open_database, start_service

ROOT = Path(__file__).resolve().parents[1]
Labels = frozenset[tuple[str, str]]
Vector = dict[Labels, float]
Scrape = dict[tuple[str, Labels], float]


# -- the load -------------------------------------------------------------------------------


async def chat(client: httpx.AsyncClient, model: str, user: str) -> None:
    body = {
        "model": model,
        "stream": True,
        "user": user,
        "messages": [{"role": "user", "content": "Tell me about the weather."}],
    }
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        await response.aread()


async def tool_chat(socket: str, fail: bool) -> None:
    stream = await trio.open_unix_socket(socket)
    async with trio.open_nursery() as nursery:
        ws = await trio_websocket.wrap_client_stream(nursery, stream, "sidecar", "/v1/pipe")
        spec = {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}
        await ws.send_message(json.dumps({"type": "hello", "protocols": [1]}))
        await ws.get_message()
        request = {
            "type": "request",
            "model": "sim/tool-call",
            "body": {"messages": [{"role": "user", "content": "weather?"}]},
            "user": {"id": "tool-user"},
            "tools": [{"name": "get_weather", "spec": spec}],
        }
        await ws.send_message(json.dumps(request))
        try:
            while True:
                frame = json.loads(await ws.get_message())
                if frame["type"] == "tool_call":
                    result: dict[str, Any] = {"type": "tool_result", "call_id": frame["call_id"]}
                    result.update({"error": "boom"} if fail else {"output": "18C"})
                    await ws.send_message(json.dumps(result))
        except trio_websocket.ConnectionClosed:
            pass
        nursery.cancel_scope.cancel()


async def drive_load(socket: str, seconds: float, rng: random.Random) -> None:
    transport = httpx.AsyncHTTPTransport(uds=socket)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://sidecar", timeout=60) as client,
        trio.open_nursery() as nursery,
    ):
        began = trio.current_time()
        second = 0
        while (elapsed := trio.current_time() - began) < seconds:
            share = elapsed / seconds
            concurrency = 1 + int(7 * math.sin(math.pi * share))  # rises, then falls
            for number in range(concurrency):
                model = rng.choice(["sim/text", "sim/text", "sim/reasoning", "sim/web-citations"])
                nursery.start_soon(chat, client, model, f"user-{number}")
            if second % 5 == 2:
                nursery.start_soon(chat, client, "sim/error-429", "user-limited")
            if second % 7 == 3:
                nursery.start_soon(chat, client, "sim/error-502", "user-unlucky")
            if 0.3 < share < 0.5:
                nursery.start_soon(chat, client, "sim/error-400", "user-broken")
            if second % 4 == 1:
                nursery.start_soon(tool_chat, socket, second % 8 == 1)
            if 0.6 < share < 0.65:
                for number in range(20):  # a burst over the slots and the queue
                    nursery.start_soon(chat, client, "sim/text", f"burst-{number}")
            second += 1
            await trio.sleep(1)


async def scrape_every_second(
    socket: str, seconds: float, scrapes: list[tuple[float, Scrape]]
) -> None:
    transport = httpx.AsyncHTTPTransport(uds=socket)
    async with httpx.AsyncClient(transport=transport, base_url="http://sidecar") as client:
        began = trio.current_time()
        while trio.current_time() - began < seconds + 5:
            text = (await client.get("/metrics")).text
            scrape: Scrape = {}
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    scrape[(sample.name, frozenset(sample.labels.items()))] = sample.value
            scrapes.append((trio.current_time() - began, scrape))
            await trio.sleep(1)


async def run(seconds: float, seed: int) -> list[tuple[float, Scrape]]:
    scrapes: list[tuple[float, Scrape]] = []
    with tempfile.TemporaryDirectory() as var_dir:
        settings = Settings.model_validate(
            {
                "var_dir": var_dir,
                "port": 0,
                "simulator_first_token_delay_s": 0.15,
                "simulator_inter_delta_delay_s": 0.03,
                "admission": {"slots": 8, "queue": 4, "user_breaker_failures": 3},
                "tools": {"breaker_failures": 2, "retries": 0},
            }
        )
        socket = str(settings.effective_socket_path)
        install_sink_handler("INFO", "json")  # as `pipe-service serve` does; lines to a file
        log_file = (Path(var_dir) / "sidecar.log").open("w")
        async with open_database(settings) as database, open_supervisor(grace_s=5) as supervisor:
            await start_service(
                supervisor, settings, database, log_writer=StreamLogWriter(log_file)
            )
            async with trio.open_nursery() as nursery:
                nursery.start_soon(scrape_every_second, socket, seconds, scrapes)
                await drive_load(socket, seconds, random.Random(seed))
            supervisor.request_shutdown("render finished")
        log_file.close()
    return scrapes


# -- a small evaluator for the dashboard's PromQL ------------------------------------------

_SELECTOR = re.compile(r"^([a-z_:][a-z0-9_:]*)(?:\{([^}]*)\})?$")
_RANGE = re.compile(r"^(rate|increase)\((.+)\[(\d+)([smh])\]\)$")
_SUM = re.compile(r"^sum(?: by \(([^)]*)\))? ?\((.+)\)$")
_QUANTILE = re.compile(r"^histogram_quantile\(([0-9.]+), (.+)\)$")
_SCALE = re.compile(r"^(.+) \* ([0-9.]+)$")
_DIVIDE = re.compile(r"^(.+) / ([0-9.]+)$")
_MAX = re.compile(r"^max ?\((.+)\)$")


class Evaluator:
    def __init__(self, scrapes: list[tuple[float, Scrape]], window_s: float) -> None:
        self.scrapes = scrapes
        self.window_s = window_s

    def at(self, expr: str, index: int) -> Vector:
        expr = expr.strip()
        if match := _SCALE.match(expr):
            factor = float(match.group(2))
            return {k: v * factor for k, v in self.at(match.group(1), index).items()}
        if match := _DIVIDE.match(expr):
            divisor = float(match.group(2))
            return {k: v / divisor for k, v in self.at(match.group(1), index).items()}
        if match := _MAX.match(expr):
            values = self.at(match.group(1), index).values()
            return {frozenset(): max(values)} if values else {}
        if match := _QUANTILE.match(expr):
            return _quantile(float(match.group(1)), self.at(match.group(2), index))
        if match := _SUM.match(expr):
            by = [name.strip() for name in (match.group(1) or "").split(",") if name.strip()]
            summed: Vector = defaultdict(float)
            for labels, value in self.at(match.group(2), index).items():
                summed[frozenset((k, v) for k, v in labels if k in by)] += value
            return dict(summed)
        if match := _RANGE.match(expr):
            return self._range(match.group(1), match.group(2), index)
        return self._select(expr, index)

    def _select(self, selector: str, index: int) -> Vector:
        match = _SELECTOR.match(selector)
        if match is None:
            raise ValueError(f"unsupported query part: {selector}")
        name, matchers = match.group(1), match.group(2) or ""
        wanted = set(re.findall(r'(\w+)="([^"]*)"', matchers))
        return {
            labels: value
            for (sample, labels), value in self.scrapes[index][1].items()
            if sample == name and wanted <= labels
        }

    def _range(self, function: str, selector: str, index: int) -> Vector:
        now = self.scrapes[index][0]
        earlier = max(
            (i for i, (at, _) in enumerate(self.scrapes) if at <= now - self.window_s),
            default=None,
        )
        if earlier is None:
            return {}
        span = now - self.scrapes[earlier][0]
        before = self._select(selector, earlier)
        result: Vector = {}
        for labels, value in self._select(selector, index).items():
            delta = max(0.0, value - before.get(labels, 0.0))
            result[labels] = delta / span if function == "rate" else delta
        return result


def _quantile(q: float, buckets: Vector) -> Vector:
    groups: dict[Labels, list[tuple[float, float]]] = defaultdict(list)
    for labels, count in buckets.items():
        le = dict(labels).get("le")
        if le is None:
            continue
        rest = frozenset((k, v) for k, v in labels if k != "le")
        groups[rest].append((float(le), count))
    result: Vector = {}
    for labels, points in groups.items():
        points.sort()
        total = points[-1][1]
        if total <= 0:
            continue
        rank = q * total
        lower_bound, lower_count = 0.0, 0.0
        for bound, count in points:
            if count >= rank:
                if math.isinf(bound):
                    result[labels] = lower_bound
                else:
                    share = (rank - lower_count) / max(count - lower_count, 1e-12)
                    result[labels] = lower_bound + (bound - lower_bound) * share
                break
            lower_bound, lower_count = bound, count
    return result


def _legend(template: str, labels: Labels) -> str:
    values = dict(labels)
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values.get(m.group(1), ""), template)


# -- drawing --------------------------------------------------------------------------------


def draw(
    dashboard: dict[str, Any], scrapes: list[tuple[float, Scrape]], out: Path, window_s: float
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    evaluator = Evaluator(scrapes, window_s)
    panels = dashboard["panels"]
    columns = 4
    rows = math.ceil(len(panels) / columns)
    plt.style.use("dark_background")
    figure, axes = plt.subplots(rows, columns, figsize=(22, 4.2 * rows))
    figure.patch.set_facecolor("#111217")
    times = [at for at, _ in scrapes]
    for axis, panel in zip(axes.flat, panels, strict=False):
        axis.set_facecolor("#181b1f")
        axis.set_title(panel["title"], loc="left", fontsize=11, color="#d8d9da")
        axis.tick_params(colors="#8e8e8e", labelsize=8)
        series: dict[str, list[float]] = defaultdict(lambda: [math.nan] * len(scrapes))
        for target in panel["targets"]:
            for index in range(len(scrapes)):
                for labels, value in evaluator.at(target["expr"], index).items():
                    series[_legend(target.get("legendFormat", ""), labels)][index] = value
        if panel["type"] == "stat":
            axis.axis("off")
            lines = [
                f"{name}: {next((v for v in reversed(values) if not math.isnan(v)), math.nan):.3g}"
                for name, values in sorted(series.items())
            ]
            axis.text(
                0.05,
                0.5,
                "\n".join(lines) or "no data",
                fontsize=20,
                color="#73bf69",
                transform=axis.transAxes,
                va="center",
            )
            continue
        for name, values in sorted(series.items())[:10]:
            axis.plot(times, values, linewidth=1.4, label=name or "value")
        axis.grid(color="#2c3235", linewidth=0.6)
        axis.set_xlabel("seconds into the run", fontsize=8, color="#8e8e8e")
        if series:
            axis.legend(fontsize=7, loc="upper left", framealpha=0.3)
    for axis in list(axes.flat)[len(panels) :]:
        axis.axis("off")
    figure.suptitle(
        f"{dashboard['title']} — panels of docs/grafana-dashboard.json evaluated on "
        f"{len(scrapes)} scrapes of a real {times[-1]:.0f} s run (simulator upstream)",
        fontsize=13,
        color="#d8d9da",
        x=0.01,
        ha="left",
    )
    figure.tight_layout(rect=(0, 0, 1, 0.97))
    figure.savefig(out, dpi=80, facecolor=figure.get_facecolor())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--window", type=float, default=5.0, help="seconds for [1m] ranges")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    args = parser.parse_args()
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    started = time.monotonic()
    scrapes = trio.run(run, args.seconds, args.seed)
    draw(dashboard, scrapes, args.out, args.window)
    print(f"{args.out}: {len(scrapes)} scrapes, {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
