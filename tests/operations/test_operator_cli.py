"""The operator CLI against a running sidecar, each command run as a process under a pseudo
terminal (``pexpect``), the way an operator runs it.

The sidecar runs in the test's trio loop; the CLI process finds its Unix socket through
``PIPE_SERVICE_VAR_DIR``. pexpect blocks, so it runs in a worker thread.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest
import trio

from tests.operations.conftest import OpsSidecar

PIPE_SERVICE = str(Path(sys.executable).with_name("pipe-service"))


@pytest.fixture
def ops_overrides() -> dict[str, Any]:
    return {"simulator_inter_delta_delay_s": 0.01}


def cli_env(var_dir: Path) -> dict[str, str]:
    keep = {name: value for name, value in os.environ.items() if not name.startswith("PIPE_")}
    keep.pop("OPENROUTER_API_KEY", None)
    return {
        **keep,
        "PIPE_SERVICE_VAR_DIR": str(var_dir),
        "PIPE_SERVICE_PORT": "0",
        "TERM": "xterm-256color",
        "COLUMNS": "160",
        "LINES": "50",
    }


async def run_cli(var_dir: Path, *args: str) -> tuple[int, str]:
    """Run ``pipe-service ARGS`` under a pty; returns (exit status, everything it printed)."""

    def spawn() -> tuple[int, str]:
        child = pexpect.spawn(
            PIPE_SERVICE,
            list(args),
            env=cli_env(var_dir),
            dimensions=(50, 160),
            encoding="utf-8",
            timeout=30,
        )
        child.expect(pexpect.EOF)
        output = child.before
        child.close()
        status = child.exitstatus if child.exitstatus is not None else -1
        return status, output

    with trio.fail_after(60):
        return await trio.to_thread.run_sync(spawn)


async def test_status_renders_actors_slots_breakers_and_error_rates(
    ops_sidecar: OpsSidecar,
) -> None:
    status, output = await run_cli(ops_sidecar.settings.var_dir, "status")
    assert status == 0, output
    for expected in (
        "Actors",
        "log_sink",
        "admission",
        "running",
        "Requests (last 60 s)",
        "error rate",
        "Limits and sinks",
        "slots",
        "Breakers and upstream",
    ):
        assert expected in output, expected
    assert "\x1b[" in output  # a terminal gets colour


async def test_status_json_is_the_status_document(ops_sidecar: OpsSidecar) -> None:
    status, output = await run_cli(ops_sidecar.settings.var_dir, "status", "--json")
    assert status == 0
    document = json.loads(output)
    assert document["actors"][0]["name"] == "log_sink"
    assert document["admission"]["slots"] == ops_sidecar.settings.admission.slots


async def test_top_refreshes_a_live_view_while_a_chat_streams(ops_sidecar: OpsSidecar) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            run_cli, ops_sidecar.settings.var_dir, "chat", "hi", "--model", "sim/text"
        )
        status, output = await run_cli(
            ops_sidecar.settings.var_dir, "top", "--iterations", "4", "--interval", "0.2"
        )
    assert status == 0, output
    assert output.count("pipe-service top") >= 2  # refreshed in place, more than once
    for expected in (
        "streams in flight",
        "requests/s",
        "time to first token p50 / p95",
        "slots running / limit",
        "totals:",
    ):
        assert expected in output, expected


async def test_models_lists_the_catalog_filtered_by_capability(ops_sidecar: OpsSidecar) -> None:
    status, output = await run_cli(
        ops_sidecar.settings.var_dir, "models", "sim/", "--needs", "reasoning", "--json"
    )
    assert status == 0, output
    rows = json.loads(output)
    assert rows
    assert all(row["reasoning"] and "sim/" in row["id"] for row in rows)
    assert "sim/reasoning" in [row["id"] for row in rows]
    status, table = await run_cli(ops_sidecar.settings.var_dir, "models", "sim/reasoning")
    assert status == 0
    assert "sim/reasoning" in table
    assert "reasoning" in table


async def test_an_unknown_capability_is_refused_with_the_known_ones(
    ops_sidecar: OpsSidecar,
) -> None:
    status, output = await run_cli(ops_sidecar.settings.var_dir, "models", "--needs", "telepathy")
    assert status == 1
    assert "unknown capability telepathy" in output
    assert "reasoning" in output


async def test_chat_streams_reasoning_the_answer_and_the_usage_line_with_timing(
    ops_sidecar: OpsSidecar,
) -> None:
    status, output = await run_cli(
        ops_sidecar.settings.var_dir,
        "chat",
        "hello there",
        "--model",
        "sim/reasoning",
        "--reasoning",
        "--timing",
    )
    assert status == 0, output
    assert "waiting for sim/reasoning" in output  # the spinner until the first token
    assert "Thinking: " in output
    assert "Time: " in output  # the usage line
    assert "first_delta_out" in output  # phase timings asked for with --timing
    assert "admission_wait" in output


async def test_chat_shows_the_error_and_fails_for_a_failing_model(ops_sidecar: OpsSidecar) -> None:
    status, output = await run_cli(
        ops_sidecar.settings.var_dir, "chat", "hi", "--model", "sim/error-401"
    )
    assert status == 1
    assert "Authentication failed" in output


async def test_set_applies_a_live_setting_and_refuses_one_needing_a_restart(
    ops_sidecar: OpsSidecar,
) -> None:
    status, output = await run_cli(ops_sidecar.settings.var_dir, "set", "admission.slots=3")
    assert status == 0, output
    assert "applied: admission.slots" in output
    assert ops_sidecar.running.gateway.admission.statistics().slots == 3
    status, output = await run_cli(ops_sidecar.settings.var_dir, "set", "port=9999")
    assert status == 1
    assert "needs restart" in output


async def test_reload_reports_what_it_applied(ops_sidecar: OpsSidecar) -> None:
    text = ops_sidecar.config_path.read_text().replace(
        "[admission]\n", "[admission]\nqueue = 7\n", 1
    )
    text = text.replace(f"queue = {ops_sidecar.settings.admission.queue}\n", "")
    ops_sidecar.config_path.write_text(text)
    status, output = await run_cli(ops_sidecar.settings.var_dir, "reload")
    assert status == 0, output
    assert "applied: admission.queue" in output


async def test_status_without_a_sidecar_says_where_it_looked(tmp_path: Path) -> None:
    status, output = await run_cli(tmp_path, "status")
    assert status == 69
    assert "no sidecar answers on" in output
    assert str(tmp_path) in output.replace("\r\n", "")
