"""The running sidecar's health, readiness, status and metrics, over its real sockets."""

from __future__ import annotations

import json
import stat

from tests.service.conftest import Sidecar, wait_until


async def test_healthz_answers_over_the_unix_socket(sidecar: Sidecar) -> None:
    async with sidecar.uds_client() as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_the_socket_file_is_group_read_write_only(sidecar: Sidecar) -> None:
    mode = stat.S_IMODE(sidecar.settings.effective_socket_path.stat().st_mode)
    assert mode == 0o660


async def test_readyz_reports_catalog_and_storage(sidecar: Sidecar) -> None:
    async with sidecar.tcp_client() as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"ready": True, "checks": {"catalog": "ok", "storage": "ok"}}


async def test_status_names_the_simulator_upstream_and_every_actor(sidecar: Sidecar) -> None:
    async with sidecar.uds_client() as client:
        status = (await client.get("/status")).json()
    assert status["upstream"]["mode"] == "simulator"
    names = [actor["name"] for actor in status["actors"]]
    assert names == [
        "log_sink",
        "instance_lock",
        "storage",
        "db_writer",
        "dead_letters",
        "cleanup",
        "dead_letter_cleanup",
        "signals",
        "simulator",
        "upstream",
        "catalog",
        "tools",
        "fetch",
        "sessions",
        "memory_return",
        "front",
    ]
    assert all(actor["state"] == "running" for actor in status["actors"])
    assert status["catalog"]["models"] > 10
    assert status["storage"]["backend"] == "sqlite"
    assert status["persistence"]["ready"] is True
    assert len(status["persistence"]["current_key_id"]) == 12
    assert status["persistence"]["dead_letters"]["written_by_this_process"] == 0
    assert status["restarts_total"] == 0


async def test_status_shows_no_reachable_simulator_address(sidecar: Sidecar) -> None:
    async with sidecar.uds_client() as client:
        status = (await client.get("/status")).json()
    assert status["upstream"]["base_url"] == "built-in simulator (private socket)"
    assert "127.0.0.1" not in json.dumps(status)
    assert "simulator.sock" not in json.dumps(status)


async def test_the_simulator_socket_is_private_to_the_sidecar_user(sidecar: Sidecar) -> None:
    assert sidecar.running.simulator_socket is not None
    mode = stat.S_IMODE(sidecar.running.simulator_socket.stat().st_mode)
    assert mode == 0o600


async def test_metrics_expose_actor_statistics_in_prometheus_text(sidecar: Sidecar) -> None:
    async with sidecar.uds_client() as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'pipe_service_actor_up{actor="front"} 1.0' in text
    assert 'pipe_service_actor_restarts_total{actor="catalog"} 0.0' in text
    assert "pipe_service_admission_queue_size 256.0" in text  # the queue, changeable live
    assert "pipe_service_admission_slots 64.0" in text
    assert 'upstream_mode="simulator"' in text


async def test_fault_injection_is_off_by_default(sidecar: Sidecar) -> None:
    async with sidecar.uds_client() as client:
        response = await client.post("/admin/fault/catalog")
    assert response.status_code == 404


async def test_catalog_refresh_endpoint_queues_a_refresh(sidecar: Sidecar) -> None:
    before = sidecar.running.catalog.statistics().fetches
    async with sidecar.uds_client() as client:
        response = await client.post("/admin/catalog/refresh")
        assert response.status_code == 202
        await wait_until(lambda: sidecar.running.catalog.statistics().fetches > before)
    assert sidecar.running.catalog.statistics().fetches == before + 1


async def test_status_and_metrics_say_which_worker_answered(sidecar: Sidecar) -> None:
    async with sidecar.uds_client() as client:
        status = (await client.get("/status")).json()
        metrics = (await client.get("/metrics")).text
    worker = status["worker"]
    assert worker == {"index": 0, "count": 1, "pid": status["pid"]}
    assert f'pipe_service_worker_info{{count="1",index="0",pid="{worker["pid"]}"}} 1.0' in metrics
