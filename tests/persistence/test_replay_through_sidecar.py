"""Replay through a whole sidecar (simulator upstream, real sockets, SQLite and PostgreSQL):
the shim path and the OpenAI API path, the order of a tool turn, and the cross-user attack.

What reached "OpenRouter" is read from the simulator's request log, as an operator would.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from pipe_service.persistence.markers import find_markers, strip_markers
from pipe_service.persistence.status_lines import FAILED_STATUS, PAUSED_STATUS
from pipe_service.storage.engine import Database
from tests.persistence.databases import BACKENDS, database_url
from tests.pipe_protocol.conftest import open_shim, request_frame, run_request
from tests.service import conftest as service_conftest
from tests.service.conftest import Sidecar

sidecar = service_conftest.sidecar
OPENAI_MODEL = "openai/gpt-sim-reasoner"
WEATHER_SPEC = {
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture(params=BACKENDS)
def sidecar_overrides(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(_catalog_with_an_openai_reasoner()))
    with database_url(request.param, tmp_path) as url:
        yield {"database_url": url, "simulator_catalog_path": catalog}


def _catalog_with_an_openai_reasoner() -> list[dict[str, Any]]:
    """The simulator's own catalog plus an ``openai/*`` reasoning model with tools: the
    simulator answers it like OpenAI (encrypted reasoning, then a call or the answer)."""
    cards = json.loads(
        (Path(__file__).parents[2] / "pipe_service/simulator/sim_models.json").read_text()
    )
    reasoner = next(card for card in cards if card["id"] == "sim/encrypted-reasoning")
    return [
        *cards,
        {
            **reasoner,
            "id": OPENAI_MODEL,
            "canonical_slug": OPENAI_MODEL,
            "name": "OpenAI: Sim Reasoner",
        },
    ]


async def upstream_requests(sidecar: Sidecar) -> list[dict[str, Any]]:
    async with sidecar.simulator_client() as client:
        records = (await client.get("/_sim/requests")).json()["data"]
    return [record["body"] for record in records]


def input_types(body: dict[str, Any]) -> list[str]:
    return [
        item["type"] if item["type"] != "message" else f"message:{item['role']}"
        for item in body["input"]
    ]


def shim_turn(history: list[dict[str, Any]], *, user: str, chat: str, model: str) -> dict[str, Any]:
    return request_frame(
        model,
        body={"messages": history},
        user={"id": user, "name": user},
        metadata={"chat_id": chat, "message_id": f"{chat}-{len(history)}"},
    )


async def test_the_second_shim_turn_replays_the_first_turns_reasoning(sidecar: Sidecar) -> None:
    first = [{"role": "user", "content": "What is 2+2?"}]
    answer = (
        await run_request(
            sidecar, shim_turn(first, user="alice", chat="c1", model="sim/encrypted-reasoning")
        )
    ).text
    markers = find_markers(answer)
    assert len(markers) == 1

    second = [
        *first,
        {"role": "assistant", "content": answer},
        {"role": "user", "content": "And 3+3?"},
    ]
    await run_request(
        sidecar, shim_turn(second, user="alice", chat="c1", model="sim/encrypted-reasoning")
    )
    body = (await upstream_requests(sidecar))[-1]
    assert input_types(body) == ["message:user", "reasoning", "message:assistant", "message:user"]
    replayed = body["input"][1]
    assert replayed["encrypted_content"].startswith("gAAAA")
    # the marker never reaches the model
    assert body["input"][2]["content"][0]["text"] == strip_markers(answer)
    assert "]: #" not in json.dumps(body)


async def test_another_user_pasting_the_answer_gets_nothing_replayed(
    sidecar: Sidecar, caplog: pytest.LogCaptureFixture
) -> None:
    first = [{"role": "user", "content": "secret plan?"}]
    answer = (
        await run_request(
            sidecar, shim_turn(first, user="alice", chat="c1", model="sim/encrypted-reasoning")
        )
    ).text
    assert find_markers(answer)
    stolen = [
        *first,
        {"role": "assistant", "content": answer},
        {"role": "user", "content": "continue"},
    ]
    with caplog.at_level(logging.WARNING, logger="pipe_service.persistence"):
        await run_request(
            sidecar, shim_turn(stolen, user="mallory", chat="c9", model="sim/encrypted-reasoning")
        )
    body = (await upstream_requests(sidecar))[-1]
    assert "reasoning" not in input_types(body)
    assert "another user or chat" in caplog.text


async def test_a_tool_turn_replays_reasoning_call_output_reasoning_before_the_answer(
    sidecar: Sidecar,
) -> None:
    first = [{"role": "user", "content": "Weather in Paris?"}]
    frame = shim_turn(first, user="alice", chat="c1", model=OPENAI_MODEL)
    frame["tools"] = [{"name": "get_weather", "spec": WEATHER_SPEC}]
    with trio.fail_after(20):
        async with open_shim(sidecar) as shim:
            await shim.hello()
            await shim.send(frame)
            call = await shim.receive_until("tool_call")
            await shim.send({"type": "tool_result", "call_id": call["call_id"], "output": "18C"})
            session = await shim.until_closed()
    answer = session.text
    assert len(find_markers(answer)) == 4  # reasoning, call, output, reasoning

    second = [
        *first,
        {"role": "assistant", "content": answer},
        {"role": "user", "content": "Thanks"},
    ]
    await run_request(sidecar, shim_turn(second, user="alice", chat="c1", model=OPENAI_MODEL))
    body = (await upstream_requests(sidecar))[-1]
    assert input_types(body) == [
        "message:user",
        "reasoning",
        "function_call",
        "function_call_output",
        "reasoning",
        "message:assistant",
        "message:user",
    ]
    assert body["input"][3]["output"] == "18C"


def openai_body(history: list[dict[str, Any]]) -> dict[str, Any]:
    return {"model": "sim/encrypted-reasoning", "messages": history, "stream": False}


async def test_the_openai_api_replays_for_the_same_caller_only(
    sidecar: Sidecar, caplog: pytest.LogCaptureFixture
) -> None:
    first = [{"role": "user", "content": "What is 2+2?"}]
    async with sidecar.tcp_client(timeout=20) as api:  # with the sidecar's TCP token
        reply = await api.post("/v1/chat/completions", json=openai_body(first))
        answer = reply.json()["choices"][0]["message"]["content"]
        assert len(find_markers(answer)) == 1
        second = [
            *first,
            {"role": "assistant", "content": answer},
            {"role": "user", "content": "And 3+3?"},
        ]
        assert (await api.post("/v1/chat/completions", json=openai_body(second))).is_success
    assert "reasoning" in input_types((await upstream_requests(sidecar))[-1])

    # Another caller (the Unix socket: no bearer) sends the same history with a made-up
    # `user`: the client-supplied string does not make it the owner.
    async with sidecar.uds_client() as other:
        with caplog.at_level(logging.WARNING, logger="pipe_service.persistence"):
            stolen = {**openai_body(second), "user": "whoever"}
            assert (await other.post("/v1/chat/completions", json=stolen, timeout=20)).is_success
    assert "reasoning" not in input_types((await upstream_requests(sidecar))[-1])
    assert "another user or chat" in caplog.text


async def test_a_user_who_turned_reasoning_storage_off_gets_no_markers(sidecar: Sidecar) -> None:
    frame = shim_turn(
        [{"role": "user", "content": "hi"}],
        user="alice",
        chat="c1",
        model="sim/encrypted-reasoning",
    )
    frame["user_valves"] = {"PERSIST_REASONING_TOKENS": "disabled"}
    session = await run_request(sidecar, frame)
    assert session.text
    assert find_markers(session.text) == []


async def test_an_invalid_persistence_valve_is_refused_naming_it(sidecar: Sidecar) -> None:
    frame = shim_turn(
        [{"role": "user", "content": "hi"}], user="alice", chat="c1", model="sim/text"
    )
    frame["user_valves"] = {"PERSIST_REASONING_TOKENS": "forever"}
    session = await run_request(sidecar, frame)
    assert session.last["type"] == "error"
    assert "PERSIST_REASONING_TOKENS" in session.last["message"]


def statuses(session: Any) -> list[str]:
    return [
        frame["event"]["data"]["description"]
        for frame in session.of_type("event")
        if frame["event"]["type"] == "status"
    ]


async def test_a_task_request_sees_no_markers_and_stores_nothing(sidecar: Sidecar) -> None:
    first = [{"role": "user", "content": "What is 2+2?"}]
    answer = (
        await run_request(
            sidecar, shim_turn(first, user="alice", chat="c1", model="sim/encrypted-reasoning")
        )
    ).text
    frame = shim_turn(
        [*first, {"role": "assistant", "content": answer}],
        user="alice",
        chat="c1",
        model="sim/encrypted-reasoning",
    )
    frame["metadata"]["task"] = "title_generation"
    done = (await run_request(sidecar, frame)).last
    assert done["type"] == "done"
    assert find_markers(done["content"] or "") == []
    body = (await upstream_requests(sidecar))[-1]
    assert "]: #" not in json.dumps(body)
    assert "reasoning" not in input_types(body)


async def test_a_failing_database_shows_a_status_then_pauses_persistence(
    sidecar: Sidecar,
) -> None:
    # A second connection breaks the table under the running sidecar (and repairs it after).
    admin = Database.open(sidecar.settings.effective_database_url, pool_size=1)
    try:
        await admin.run_sync(
            lambda c: c.exec_driver_sql("ALTER TABLE pipe_artifacts RENAME TO down")
        )
        turns = [
            await run_request(
                sidecar,
                shim_turn(
                    [{"role": "user", "content": f"q{n}"}],
                    user="bob",
                    chat="c",
                    model="sim/encrypted-reasoning",
                ),
            )
            for n in range(4)
        ]
        await admin.run_sync(
            lambda c: c.exec_driver_sql("ALTER TABLE down RENAME TO pipe_artifacts")
        )
    finally:
        admin.dispose()
    for session in turns:
        assert session.last["type"] == "done"  # the answer itself is whole
        assert find_markers(session.text) == []
    shown = [statuses(session) for session in turns]
    # breaker_failures (3) failed saves, then the breaker is open: persistence is skipped
    assert [FAILED_STATUS in s for s in shown] == [True, True, True, False]
    assert PAUSED_STATUS in shown[3]
    # another user is not affected by bob's breaker
    ok = await run_request(
        sidecar,
        shim_turn(
            [{"role": "user", "content": "hi"}],
            user="carol",
            chat="c",
            model="sim/encrypted-reasoning",
        ),
    )
    assert find_markers(ok.text)
