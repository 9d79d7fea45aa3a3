"""A whole sidecar with Redis (in this process, simulator upstream, real Redis under a test
prefix): answers' artifacts go through the write-behind and replay from its cache, cost
snapshots land under their documented keys, and a sidecar without the fleet key refuses to
start with a message naming the setting."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis
import trio

from actors import open_supervisor
from pipe_service.config import ConfigError
from pipe_service.persistence.markers import find_markers
from pipe_service.service import open_database, start_service
from tests.service.conftest import Sidecar, make_settings, wait_until
from tests.writebehind.conftest import REDIS_URL, needs_redis

pytestmark = needs_redis
MODEL = "sim/encrypted-reasoning"


@pytest.fixture
async def sidecar(tmp_path: Path, prefix: str) -> AsyncIterator[Sidecar]:
    settings = make_settings(
        tmp_path,
        redis_url=REDIS_URL,
        redis={
            "key_prefix": prefix,
            "cost_snapshots": True,
            "flush_interval_s": 300,
            "flush_backoff_max_s": 300,
        },
        persistence={"encryption_key": "fleet key"},
    )
    async with open_database(settings) as database, open_supervisor(grace_s=5) as supervisor:
        running = await start_service(supervisor, settings, database)
        yield Sidecar(settings, running, supervisor)
        supervisor.request_shutdown("test finished")


async def ask(sidecar: Sidecar, messages: list[dict[str, str]]) -> str:
    async with sidecar.uds_client() as client:
        reply = await client.post(
            "/v1/chat/completions", json={"model": MODEL, "stream": False, "messages": messages}
        )
    assert reply.status_code == 200, reply.text
    content: str = reply.json()["choices"][0]["message"]["content"]
    return content


async def status(sidecar: Sidecar) -> dict[str, Any]:
    async with sidecar.uds_client() as client:
        data: dict[str, Any] = (await client.get("/status")).json()
    return data


async def test_an_answer_is_acked_by_redis_and_replayed_from_its_cache(sidecar: Sidecar) -> None:
    with trio.fail_after(30):
        answer = await ask(sidecar, [{"role": "user", "content": "hello"}])
        assert find_markers(answer)
        before = (await status(sidecar))["persistence"]["write_behind"]
        assert before["pending"] >= 1  # acked by Redis, not flushed yet (interval 300 s)
        await ask(
            sidecar,
            [
                {"role": "user", "content": "hello"},
                {"role": "assistant", "content": answer},
                {"role": "user", "content": "more"},
            ],
        )
        after = (await status(sidecar))["persistence"]["write_behind"]
    assert after["cache_hits"] == len(find_markers(answer))
    assert after["cache_misses"] == 0


async def test_cost_snapshots_land_under_the_owner_with_a_ttl(
    sidecar: Sidecar, prefix: str
) -> None:
    with trio.fail_after(30):
        await ask(sidecar, [{"role": "user", "content": "what does this cost?"}])
        client = redis.Redis.from_url(REDIS_URL)
        try:

            def snapshot_keys() -> list[bytes]:
                return list(client.scan_iter(match=f"{prefix}:cost:*"))

            await wait_until(lambda: trio.to_thread.run_sync(snapshot_keys))
            [key] = await trio.to_thread.run_sync(snapshot_keys)
            snapshot = json.loads(client.get(key) or b"{}")
            ttl = client.ttl(key)
        finally:
            client.close()
    assert key.decode().startswith(f"{prefix}:cost:{snapshot['owner']}:")
    assert snapshot["model"] == MODEL
    assert snapshot["input_tokens"] > 0
    assert 0 < ttl <= 900


async def test_a_sidecar_with_redis_but_no_fleet_key_is_refused_with_the_fix(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, redis_url=REDIS_URL)
    with pytest.RaisesGroup(
        pytest.RaisesExc(ConfigError, match="PIPE_SERVICE_PERSISTENCE__ENCRYPTION_KEY"),
        flatten_subgroups=True,
    ):
        async with open_database(settings) as database, open_supervisor(grace_s=5) as supervisor:
            await start_service(supervisor, settings, database)


async def test_the_write_behind_is_in_the_metrics(sidecar: Sidecar) -> None:
    with trio.fail_after(30):
        await ask(sidecar, [{"role": "user", "content": "count me"}])
        async with sidecar.uds_client() as client:
            text = (await client.get("/metrics")).text
    pending = [line for line in text.splitlines() if line.startswith("pipe_service_redis_pending ")]
    assert pending
    assert float(pending[0].split()[1]) >= 1
    assert "pipe_service_redis_pending_over_threshold 0.0" in text
    assert "pipe_service_flusher_commits_total" in text
