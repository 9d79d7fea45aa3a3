"""Durability: a SIGTERM drains the writer's queue before the process stops, and after a
SIGKILL every artifact whose marker reached a client is readable."""

from __future__ import annotations

import os
import signal
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio

from actors import ActorSpec, open_supervisor, watch_signals
from pipe_service.config.persistence import PersistenceSettings
from pipe_service.persistence.markers import find_markers
from pipe_service.service import open_database, restart_policy, start_persistence
from pipe_service.storage.artifact_store import NewArtifact, count_artifacts, read_artifact
from pipe_service.storage.bootstrap import prepare_artifact_storage
from pipe_service.storage.engine import Database
from pipe_service.storage.ids import UlidGenerator
from tests.one_chunk_http import uds_transport
from tests.persistence.databases import BACKENDS, database_url
from tests.process.test_serve_process import serve
from tests.service.conftest import make_settings

IDS = UlidGenerator()


def batch(n: int) -> list[NewArtifact]:
    return [
        NewArtifact(
            id=IDS.new(),
            owner="user:u",
            chat_id="c",
            message_id=f"m{n}",
            model="x/y",
            item={"type": "function_call_output", "call_id": f"c{n}", "output": "o" * 500},
            position=k,
        )
        for k in range(5)
    ]


async def test_sigterm_drains_every_batch_queued_for_the_writer(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with trio.fail_after(30):
        async with open_database(settings) as database:
            async with open_supervisor(grace_s=settings.shutdown_grace_s) as supervisor:
                running = await start_persistence(
                    supervisor, settings, database, restart_policy(settings)
                )
                assert running is not None
                await supervisor.start(ActorSpec("signals", watch_signals, (supervisor,)))
                acks = [await running.writer.submit(batch(n), owner="user:u") for n in range(60)]
                assert any(not ack.done for ack in acks)  # still queued when the signal comes
                os.kill(os.getpid(), signal.SIGTERM)
                await supervisor.wait_shutdown_requested()
            assert supervisor.shutdown_reason == "signal SIGTERM"
            assert all(ack.ok for ack in acks)
            assert await database.run_sync(count_artifacts) == 60 * 5


@pytest.mark.parametrize("backend", BACKENDS)
async def test_after_sigkill_every_artifact_whose_marker_reached_a_client_is_readable(
    tmp_path: Path, backend: str
) -> None:
    with database_url(backend, tmp_path) as url:
        await _sigkill_while_chatting_then_read_back(tmp_path, url)


async def _sigkill_while_chatting_then_read_back(tmp_path: Path, url: str) -> None:
    seen_markers: list[str] = []
    clients = 8
    kill_after = 40

    async def chat_until_killed(service_socket: Path, done: trio.Event) -> None:
        transport = uds_transport(str(service_socket))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://sidecar", timeout=10
        ) as client:
            n = 0
            while not done.is_set():
                n += 1
                body = {
                    "model": "sim/encrypted-reasoning",
                    "stream": False,
                    "messages": [{"role": "user", "content": f"question {n}"}],
                }
                try:
                    reply = await client.post("/v1/chat/completions", json=body)
                except httpx.HTTPError:
                    return  # the process was killed under this request
                if reply.status_code != 200:
                    return
                seen_markers.extend(find_markers(reply.json()["choices"][0]["message"]["content"]))
                if len(seen_markers) >= kill_after:
                    done.set()

    with trio.fail_after(90):
        async with serve(tmp_path, DATABASE_URL=url) as service:
            await service.wait_for_log("serving on")
            killed = trio.Event()
            async with trio.open_nursery() as nursery:
                for _ in range(clients):
                    nursery.start_soon(chat_until_killed, service.socket_path, killed)
                await killed.wait()
                service.process.send_signal(signal.SIGKILL)
            assert await service.process.wait() == -signal.SIGKILL

    assert len(seen_markers) >= kill_after
    database = Database.open(url, pool_size=1)
    try:
        codec = await prepare_artifact_storage(
            database, PersistenceSettings(), tmp_path, create_key=False
        )
        for marker in seen_markers:
            item = await database.run_sync(partial(read_artifact, codec=codec, artifact_id=marker))
            assert item is not None, f"marker {marker} reached a client but its row is gone"
            assert item["type"] == "reasoning"
    finally:
        database.dispose()
