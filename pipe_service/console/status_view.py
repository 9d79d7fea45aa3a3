"""``pipe-service status``: the running sidecar at a glance (rich tables), or ``--json``."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text


def milliseconds(seconds: Any) -> str:
    return "-" if seconds is None else f"{float(seconds) * 1000:.0f} ms"


def _age(seconds: Any) -> str:
    if seconds is None:
        return "never"
    seconds = float(seconds)
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def render_status(status: dict[str, Any]) -> RenderableType:
    """Tables for actors, traffic, limits, breakers, the log sink and the upstream."""
    upstream = status.get("upstream", {})
    head = Text.assemble(
        ("pipe-service ", "bold"),
        f"{status.get('version', '?')}  pid {status.get('pid', '?')}  "
        f"up {_age(status.get('uptime_s'))}  upstream {upstream.get('mode', '?')} "
        f"({upstream.get('base_url', '?')})",
        ("  SHUTTING DOWN" if status.get("shutting_down") else "", "bold red"),
    )
    parts: list[RenderableType] = [head]
    workers = status.get("workers")
    if isinstance(workers, list):
        parts.append(_workers(status, workers))
    elif status.get("workers_error"):
        parts.append(Text(f"workers: {status['workers_error']}", style="red"))
    parts += [
        _actors(status.get("actors", [])),
        _traffic(status),
        _limits(status),
        _breakers(status),
    ]
    return Group(*parts)


def _workers(status: dict[str, Any], workers: list[dict[str, Any]]) -> Table:
    """One row per worker process; the tables below describe the worker that answered."""
    answered = status.get("worker", {}).get("index")
    supervisor = status.get("supervisor", {})
    table = Table(
        title=f"Workers (supervisor pid {supervisor.get('pid', '?')}; the tables below are "
        f"worker {answered}'s)",
        title_justify="left",
    )
    for column in (
        "worker",
        "pid",
        "state",
        "restarts",
        "up",
        "in flight",
        "slots",
        "running",
        "queued",
        "actor restarts",
    ):
        table.add_column(column, justify="left" if column in ("worker", "state") else "right")
    for entry in workers:
        worker_status = entry.get("status")
        state = str(entry.get("state", "?"))
        if not isinstance(worker_status, dict):
            table.add_row(
                str(entry.get("index")),
                str(entry.get("pid") or "-"),
                Text(f"{state}: {entry.get('error', '?')}", style="red"),
                str(entry.get("process_restarts", 0)),
                *["-"] * 6,
            )
            continue
        admission = worker_status.get("admission", {})
        table.add_row(
            str(entry.get("index")),
            str(entry.get("pid")),
            Text(state, style="green" if state == "serving" else "yellow"),
            str(entry.get("process_restarts", 0)),
            _age(worker_status.get("uptime_s")),
            str(worker_status.get("requests", {}).get("in_flight", 0)),
            str(admission.get("slots", "-")),
            str(admission.get("running", "-")),
            str(admission.get("queued", "-")),
            str(worker_status.get("restarts_total", 0)),
        )
    return table


def _actors(actors: list[dict[str, Any]]) -> Table:
    table = Table(title="Actors", title_justify="left")
    for column in ("actor", "state", "restarts", "inbox", "depth", "dropped", "rejected"):
        table.add_column(column, justify="left" if column in ("actor", "state") else "right")
    for actor in actors:
        inbox = actor.get("inbox") or {}
        state = str(actor.get("state", "?"))
        style = "green" if state == "running" else "red"
        table.add_row(
            str(actor.get("name")),
            Text(state, style=style),
            str(actor.get("restarts", 0)),
            str(inbox.get("size", "-")),
            str(inbox.get("depth", "-")),
            str(inbox.get("dropped", "-")),
            str(inbox.get("rejected", "-")),
        )
    return table


def _traffic(status: dict[str, Any]) -> Table:
    requests = status.get("requests", {})
    recent = requests.get("recent", {})
    table = Table(title=f"Requests (last {recent.get('window_s', 60):.0f} s)", title_justify="left")
    for column in (
        "in flight",
        "streams",
        "req/s",
        "errors",
        "error rate",
        "TTFT p50",
        "TTFT p95",
        "duration p50",
        "tokens/s",
    ):
        table.add_column(column, justify="right")
    error_rate = float(recent.get("error_rate", 0.0))
    table.add_row(
        str(requests.get("in_flight", 0)),
        str(requests.get("streams_in_flight", 0)),
        f"{float(recent.get('requests_per_s', 0.0)):.2f}",
        str(recent.get("errors", 0)),
        Text(f"{error_rate:.1%}", style="red" if error_rate > 0.05 else "green"),
        milliseconds(recent.get("ttft_p50_s")),
        milliseconds(recent.get("ttft_p95_s")),
        milliseconds(recent.get("duration_p50_s")),
        f"{float(recent.get('output_tokens_per_s', 0.0)):.1f}",
    )
    return table


def _limits(status: dict[str, Any]) -> Table:
    admission = status.get("admission", {})
    catalog = status.get("catalog", {})
    log_sink = status.get("log_sink", {})
    table = Table(title="Limits and sinks", title_justify="left")
    for column in (
        "slots",
        "running",
        "queued",
        "queue limit",
        "busy refused",
        "catalog models",
        "catalog age",
        "log queued",
        "log dropped",
    ):
        table.add_column(column, justify="right")
    table.add_row(
        str(admission.get("slots", "-")),
        str(admission.get("running", "-")),
        str(admission.get("queued", "-")),
        str(admission.get("queue_size", "-")),
        str(admission.get("refused", "-")),
        str(catalog.get("models", "-")),
        _age(catalog.get("age_s")),
        str(log_sink.get("queued", "-")),
        Text(str(log_sink.get("dropped", "-")), style="red" if log_sink.get("dropped") else ""),
    )
    return table


def _breakers(status: dict[str, Any]) -> Table:
    users = status.get("user_breaker", {})
    tools = status.get("tools", {})
    client = status.get("upstream_client", {})
    table = Table(title="Breakers and upstream", title_justify="left")
    for column in (
        "users slowed",
        "user trips",
        "slow-down refusals",
        "tool breakers open",
        "tool trips",
        "upstream attempts",
        "retries",
        "upstream errors",
    ):
        table.add_column(column, justify="right")
    errors = client.get("errors_by_kind", {}) or {}
    table.add_row(
        str(users.get("open", "-")),
        str(users.get("trips", "-")),
        str(users.get("rejections", "-")),
        str(tools.get("breakers_open", "-")),
        str(tools.get("breaker_trips", "-")),
        str(client.get("requests", "-")),
        str(client.get("retries", "-")),
        ", ".join(f"{kind} {count}" for kind, count in sorted(errors.items())) or "0",
    )
    return table
