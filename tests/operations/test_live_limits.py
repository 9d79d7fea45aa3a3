"""Limits change at run time without dropping running streams (``pipe-service set``, reload).

Real sidecar, real sockets: the admission slot limit is lowered while streams run; they all
finish, and new requests are then admitted one at a time. Reload re-reads the TOML file,
applies what can change and reports what needs a restart.
"""

from __future__ import annotations

import json
import os
import signal
from typing import Any

import httpx
import pytest
import trio

from tests.operations.conftest import OpsSidecar
from tests.service.conftest import wait_until


@pytest.fixture
def ops_overrides() -> dict[str, Any]:
    return {"simulator_inter_delta_delay_s": 0.02, "admission": {"slots": 4, "queue": 16}}


async def stream_chat(client: httpx.AsyncClient, texts: list[str]) -> None:
    body = {"model": "sim/text", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        text = (await response.aread()).decode()
    assert response.status_code == 200
    texts.append(text)


async def test_lowering_slots_under_load_keeps_running_streams_and_admits_one_at_a_time(
    ops_sidecar: OpsSidecar,
) -> None:
    gate = ops_sidecar.running.gateway.admission
    first: list[str] = []
    later: list[str] = []
    running_after_lowering: list[int] = []
    with trio.fail_after(30):
        async with ops_sidecar.uds_client() as client, trio.open_nursery() as nursery:
            for _ in range(4):
                nursery.start_soon(stream_chat, client, first)
            await wait_until(lambda: gate.statistics().running == 4)
            reply = await ops_sidecar.admin_set("admission.slots", "1")
            assert reply.status_code == 200
            assert reply.json() == {"applied": ["admission.slots"], "needs_restart": []}
            for _ in range(2):
                nursery.start_soon(stream_chat, client, later)
            await wait_until(lambda: len(first) == 4)

            async def watch_running() -> None:
                while len(later) < 2:
                    running_after_lowering.append(gate.statistics().running)
                    await trio.sleep(0.005)

            nursery.start_soon(watch_running)
    assert all(text.rstrip().endswith("data: [DONE]") for text in first + later)
    assert len(later) == 2
    assert max(running_after_lowering) == 1
    assert gate.statistics().slots == 1


async def test_raising_slots_admits_queued_requests_at_once(ops_sidecar: OpsSidecar) -> None:
    gate = ops_sidecar.running.gateway.admission
    assert (await ops_sidecar.admin_set("admission.slots", "1")).status_code == 200
    texts: list[str] = []
    with trio.fail_after(30):
        async with ops_sidecar.uds_client() as client, trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(stream_chat, client, texts)
            await wait_until(lambda: gate.statistics().queued == 2)
            assert (await ops_sidecar.admin_set("admission.slots", "3")).status_code == 200
            await wait_until(lambda: gate.statistics().running == 3)
    assert len(texts) == 3


async def test_a_setting_that_needs_a_restart_is_refused_by_set(ops_sidecar: OpsSidecar) -> None:
    reply = await ops_sidecar.admin_set("port", "9999")
    assert reply.status_code == 400
    assert "needs restart" in reply.json()["error"]


async def test_an_invalid_value_is_refused_naming_the_field(ops_sidecar: OpsSidecar) -> None:
    reply = await ops_sidecar.admin_set("admission.slots", "0")
    assert reply.status_code == 400
    assert "admission.slots" in reply.json()["error"]
    assert ops_sidecar.running.gateway.admission.statistics().slots == 4


async def test_an_unknown_key_is_refused_with_a_suggestion(ops_sidecar: OpsSidecar) -> None:
    reply = await ops_sidecar.admin_set("admission.slot", "3")
    assert reply.status_code == 400
    assert "Did you mean 'slots'" in reply.json()["error"]


async def test_log_levels_change_at_run_time_globally_and_per_user(
    ops_sidecar: OpsSidecar,
) -> None:
    assert (await ops_sidecar.admin_set("log_level", "WARNING")).status_code == 200
    assert ops_sidecar.handler.levels.level == 30
    reply = await ops_sidecar.admin_set("logging.user_levels", json.dumps({"u-diag": "DEBUG"}))
    assert reply.status_code == 200
    assert ops_sidecar.handler.levels.users == {"u-diag": 10}


async def test_reload_applies_live_settings_and_reports_those_needing_a_restart(
    ops_sidecar: OpsSidecar,
) -> None:
    text = ops_sidecar.config_path.read_text()
    text = text.replace("slots = 4", "slots = 2").replace(
        "graceful_timeout_s = 2", "graceful_timeout_s = 3"
    )
    ops_sidecar.config_path.write_text(text)
    async with ops_sidecar.uds_client() as client:
        reply = await client.post("/admin/reload")
    assert reply.status_code == 200
    assert reply.json() == {"applied": ["admission.slots"], "needs_restart": ["graceful_timeout_s"]}
    assert ops_sidecar.running.gateway.admission.statistics().slots == 2
    assert ops_sidecar.running.context.settings.graceful_timeout_s == 2


async def test_sighup_reloads_the_configuration(ops_sidecar: OpsSidecar) -> None:
    text = ops_sidecar.config_path.read_text().replace("slots = 4", "slots = 3")
    ops_sidecar.config_path.write_text(text)
    os.kill(os.getpid(), signal.SIGHUP)
    await wait_until(lambda: ops_sidecar.running.gateway.admission.statistics().slots == 3)


async def test_a_broken_configuration_file_is_refused_on_reload_and_nothing_changes(
    ops_sidecar: OpsSidecar,
) -> None:
    ops_sidecar.config_path.write_text("[admission]\nslots = -1\n")
    async with ops_sidecar.uds_client() as client:
        reply = await client.post("/admin/reload")
    assert reply.status_code == 400
    assert "admission.slots" in reply.json()["error"]
    assert ops_sidecar.running.gateway.admission.statistics().slots == 4


async def test_tool_limits_and_request_defaults_change_for_new_requests(
    ops_sidecar: OpsSidecar,
) -> None:
    runner = ops_sidecar.running.gateway.tools
    assert (await ops_sidecar.admin_set("tools.max_concurrent_global", "3")).status_code == 200
    assert (await ops_sidecar.admin_set("tools.breaker_failures", "9")).status_code == 200
    assert runner.settings.max_concurrent_global == 3
    assert runner.statistics().global_slots_in_use == 0
    reply = await ops_sidecar.admin_set("chat.reasoning_effort", "high")
    assert reply.status_code == 200, reply.text
    assert reply.json()["applied"] == ["chat.reasoning_effort"]
    assert ops_sidecar.running.gateway.options.reasoning_effort == "high"
    assert ops_sidecar.running.context.settings.chat.reasoning_effort == "high"


async def test_streaming_settings_change_at_run_time_and_keep_the_others(
    ops_sidecar: OpsSidecar,
) -> None:
    assert (await ops_sidecar.admin_set("streaming.waiting_status_after_s", "9")).status_code == 200
    reply = await ops_sidecar.admin_set("streaming.coalescing", "window")
    assert reply.status_code == 200, reply.text
    streaming = ops_sidecar.running.gateway.streaming
    assert streaming.coalescing == "window"
    assert streaming.waiting_status_after_s == 9  # not put back to its default by the next set
    texts: list[str] = []
    async with ops_sidecar.uds_client() as client:
        await stream_chat(client, texts)
    assert texts[0].rstrip().endswith("data: [DONE]")


async def test_a_set_keeps_every_streaming_option_it_did_not_change(
    ops_sidecar: OpsSidecar,
) -> None:
    """Each change re-applies the whole live part: the streaming options not named keep their
    values (they once fell back to the built-in defaults)."""
    gateway = ops_sidecar.running.gateway
    with trio.fail_after(10):
        first = await ops_sidecar.admin_set("streaming.waiting_status_after_s", "7")
        waiting_after_first = gateway.streaming.waiting_status_after_s
        second = await ops_sidecar.admin_set("streaming.flush_bytes", "512")

    assert (first.status_code, second.status_code) == (200, 200)
    assert waiting_after_first == 7.0
    assert gateway.streaming.waiting_status_after_s == 7.0
    assert gateway.streaming.flush_bytes == 512
