"""/models, /generation, /key and the /_sim/requests log."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio

from pipe_service.simulator import SimulatorConfig, serve_simulator
from tests.simulator.conftest import API_KEY, FIXTURE_CATALOG, StartSimulator, read_sse

ROW_KEYS = {
    "id", "canonical_slug", "hugging_face_id", "name", "created", "description",
    "context_length", "architecture", "pricing", "top_provider", "per_request_limits",
    "supported_parameters", "default_parameters", "knowledge_cutoff", "expiration_date", "links",
}  # fmt: skip


async def test_default_catalog_lists_sim_models_with_real_row_keys(
    client: httpx.AsyncClient,
) -> None:
    with trio.fail_after(10):
        rows = (await client.get("/models")).json()["data"]
    ids = {row["id"] for row in rows}
    assert {"sim/text", "sim/reasoning", "sim/tool-call", "sim/error-429", "sim/text:free"} <= ids
    assert all(set(row) == ROW_KEYS for row in rows)


async def test_models_is_public(base_url: str) -> None:
    async with httpx.AsyncClient() as anonymous:
        with trio.fail_after(10):
            reply = await anonymous.get(f"{base_url}/api/v1/models")
    assert reply.status_code == 200


async def test_models_filters_by_supported_parameters(client: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        rows = (await client.get("/models?supported_parameters=reasoning,tools")).json()["data"]
    assert {row["id"] for row in rows} == {"sim/reasoning", "sim/encrypted-reasoning"}


async def test_models_filters_by_output_modalities(
    start_simulator: StartSimulator, tmp_path: Path
) -> None:
    rows = [
        {"id": "a/text", "architecture": {"output_modalities": ["text"]}},
        {"id": "a/image", "architecture": {"output_modalities": ["image"]}},
    ]
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(rows))
    root = await start_simulator(catalog_path=catalog)
    async with httpx.AsyncClient(base_url=f"{root}/api/v1") as http:
        with trio.fail_after(10):
            default = (await http.get("/models")).json()["data"]
            everything = (await http.get("/models?output_modalities=all")).json()["data"]
            images = (await http.get("/models?output_modalities=image")).json()["data"]
    assert [r["id"] for r in default] == ["a/text"]
    assert [r["id"] for r in everything] == ["a/text", "a/image"]
    assert [r["id"] for r in images] == ["a/image"]


@pytest.mark.fixture_catalog
async def test_fixture_catalog_is_served_wrapped(start_simulator: StartSimulator) -> None:
    if not FIXTURE_CATALOG.exists():
        pytest.skip(f"fixture catalog absent: {FIXTURE_CATALOG}")
    document = json.loads(FIXTURE_CATALOG.read_text())
    rows = document["data"] if isinstance(document, dict) else document
    root = await start_simulator(catalog_path=FIXTURE_CATALOG)
    async with httpx.AsyncClient(base_url=f"{root}/api/v1") as http:
        with trio.fail_after(10):
            served = (await http.get("/models?output_modalities=all")).json()["data"]
    assert served == rows


async def test_generation_lookup_returns_served_record(client: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        stream = await read_sse(client, {"model": "sim/text", "input": "hi"})
        generation_id = stream.headers["x-generation-id"]
        record = (await client.get("/generation", params={"id": generation_id})).json()["data"]
    usage = stream.terminal["response"]["usage"]
    assert record["id"] == generation_id
    assert record["model"] == "sim/text"
    assert record["total_cost"] == usage["cost"]
    assert record["tokens_completion"] == usage["output_tokens"]
    assert record["streamed"] is True
    assert record["cancelled"] is False
    assert record["finish_reason"] == "stop"


async def test_generation_lookup_unknown_id_is_404(client: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        reply = await client.get("/generation", params={"id": "gen-1-xxxxxxxxxxxxxxxxxxxx"})
    assert reply.status_code == 404


async def test_key_reports_usage_without_the_key(client: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        await client.post("/responses", json={"model": "sim/text", "input": "hi"})
        data = (await client.get("/key")).json()["data"]
    assert data["usage"] > 0
    assert data["limit"] is None
    assert "sk-or-v1-test" not in data["label"]


async def test_request_log_records_body_and_redacts_key(start_simulator: StartSimulator) -> None:
    root = await start_simulator(request_log_size=10)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=root, headers=headers) as http:
        with trio.fail_after(10):
            await http.post("/api/v1/responses", json={"model": "sim/text", "input": "logged"})
            records = (await http.get("/_sim/requests")).json()["data"]
    assert records[-1]["model"] == "sim/text"
    assert records[-1]["body"] == {"model": "sim/text", "input": "logged"}
    assert records[-1]["headers"]["authorization"] == "Bearer <redacted>"
    assert isinstance(records[-1]["received_at"], float)


async def test_request_log_is_off_unless_configured(
    client: httpx.AsyncClient, base_url: str
) -> None:
    with trio.fail_after(10):
        await client.post("/responses", json={"model": "sim/text", "input": "private prompt"})
        reply = await client.get(f"{base_url}/_sim/requests")
    assert reply.status_code == 404
    assert "private prompt" not in reply.text
    assert reply.json()["error"]["message"].startswith("the request log is off")


async def test_request_log_keeps_large_bodies_by_size_only(start_simulator: StartSimulator) -> None:
    root = await start_simulator(request_log_size=10, request_log_max_body_bytes=1000)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    big = {"model": "sim/text", "input": "word " * 1000}
    async with httpx.AsyncClient(base_url=root, headers=headers) as http:
        with trio.fail_after(10):
            await http.post("/api/v1/responses", json=big)
            records = (await http.get("/_sim/requests")).json()["data"]
    assert records[-1]["body"] is None
    assert records[-1]["body_bytes"] > 5000


async def test_request_log_drops_the_oldest_bodies_past_its_byte_bound(
    start_simulator: StartSimulator,
) -> None:
    root = await start_simulator(
        request_log_size=100, request_log_max_body_bytes=10_000, request_log_max_total_bytes=10_000
    )
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=root, headers=headers) as http:
        with trio.fail_after(10):
            for index in range(6):
                body = {"model": "sim/text", "input": f"{index} " + "x" * 3000}
                await http.post("/api/v1/responses", json=body)
            records = (await http.get("/_sim/requests")).json()["data"]
    assert sum(record["body_bytes"] for record in records) <= 10_000
    assert [record["body"]["input"][0] for record in records] == ["3", "4", "5"]


async def test_request_log_is_bounded_and_clearable(start_simulator: StartSimulator) -> None:
    root = await start_simulator(request_log_size=2)
    headers = {"Authorization": "Bearer sk-or-1"}
    async with httpx.AsyncClient(base_url=root, headers=headers) as http:
        with trio.fail_after(10):
            for word in ("one", "two", "three"):
                await http.post("/api/v1/responses", json={"model": "sim/text", "input": word})
            kept = (await http.get("/_sim/requests")).json()["data"]
            await http.delete("/_sim/requests")
            cleared = (await http.get("/_sim/requests")).json()["data"]
    assert [record["body"]["input"] for record in kept] == ["two", "three"]
    assert cleared == []


async def test_serves_over_a_unix_socket(nursery: trio.Nursery, tmp_path: Path) -> None:
    socket_path = tmp_path / "sim.sock"
    serve = partial(serve_simulator, SimulatorConfig(), binds=[f"unix:{socket_path}"])
    urls = await nursery.start(serve)
    transport = httpx.AsyncHTTPTransport(uds=str(socket_path))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as http:
        with trio.fail_after(10):
            reply = await http.get("/api/v1/models")
    assert urls == [f"http://unix:{socket_path}"]
    assert reply.status_code == 200
    assert socket_path.stat().st_mode & 0o777 == 0o660


async def test_hidden_models_leave_the_catalog_but_still_answer(
    client: httpx.AsyncClient, base_url: str
) -> None:
    with trio.fail_after(10):
        hidden = await client.put(f"{base_url}/_sim/models/hidden", json={"ids": ["sim/vision"]})
        listed = {row["id"] for row in (await client.get("/models")).json()["data"]}
        answer = await client.post("/responses", json={"model": "sim/vision", "input": "hi"})
        await client.put(f"{base_url}/_sim/models/hidden", json={"ids": []})
        restored = {row["id"] for row in (await client.get("/models")).json()["data"]}
    assert hidden.json()["data"] == ["sim/vision"]
    assert "sim/vision" not in listed
    assert answer.status_code == 200
    assert "sim/vision" in restored


async def test_hiding_models_needs_a_list_of_slugs(
    client: httpx.AsyncClient, base_url: str
) -> None:
    with trio.fail_after(10):
        reply = await client.put(f"{base_url}/_sim/models/hidden", json={"ids": "sim/text"})
    assert reply.status_code == 400
    assert "model slugs" in reply.json()["error"]["message"]
