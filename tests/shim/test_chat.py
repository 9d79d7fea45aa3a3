"""Chats through the real shim and a live sidecar (simulator upstream): what Open WebUI gets
back — streamed strings, reasoning chunks, emitter events, whole answers — and what it sees
when things fail."""

from __future__ import annotations

import time
import types
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.service.conftest import Sidecar, free_port, wait_until
from tests.shim.conftest import uds_address
from tests.shim.harness import (
    CancellableShimCall,
    OwuiSide,
    chat_body,
    reasoning_text,
    run_shim,
    streamed_text,
)

LEAD = "You said: hello there."


async def test_streams_the_answer_as_text(
    shim: types.ModuleType, uds_pipe: Any, sidecar: Sidecar
) -> None:
    owui = OwuiSide()
    items = await run_shim(lambda: owui.invoke(uds_pipe, chat_body(shim, "sim/text")))
    assert streamed_text(items).startswith(LEAD)
    assert all(isinstance(item, str) for item in items)


async def test_reasoning_arrives_as_reasoning_content_chunks(
    shim: types.ModuleType, uds_pipe: Any, sidecar: Sidecar
) -> None:
    owui = OwuiSide()
    items = await run_shim(lambda: owui.invoke(uds_pipe, chat_body(shim, "sim/reasoning")))
    assert reasoning_text(items).startswith("The user wrote: hello there.")
    assert streamed_text(items).startswith(LEAD)
    first_text = next(i for i, item in enumerate(items) if isinstance(item, str))
    assert isinstance(items[0], dict)  # reasoning comes before the answer
    assert first_text > 0


async def test_status_and_source_events_reach_the_emitter(
    shim: types.ModuleType, uds_pipe: Any, sidecar: Sidecar
) -> None:
    owui = OwuiSide()
    await run_shim(lambda: owui.invoke(uds_pipe, chat_body(shim, "sim/web-citations")))
    sources = [event["data"]["source"]["url"] for event in owui.events_of("source")]
    assert sources == ["https://example.com/docs/simulator", "https://news.example.org/articles/42"]
    statuses = [event["data"]["description"] for event in owui.events_of("status")]
    assert statuses[:2] == ["Searching the web…", "Searched the web: hello there"]


async def test_the_usage_line_is_the_final_done_status(
    shim: types.ModuleType, uds_pipe: Any, sidecar: Sidecar
) -> None:
    owui = OwuiSide()
    await run_shim(lambda: owui.invoke(uds_pipe, chat_body(shim, "sim/text")))
    final = owui.events[-1]
    assert final["type"] == "status"
    assert final["data"]["done"] is True
    assert final["data"]["description"].startswith("Time: ")
    assert "Total tokens:" in final["data"]["description"]


async def test_a_user_can_hide_the_usage_line(
    shim: types.ModuleType, uds_pipe: Any, sidecar: Sidecar
) -> None:
    owui = OwuiSide()
    owui.user["valves"] = shim.Pipe.UserValves(SHOW_FINAL_USAGE_STATUS=False)
    items = await run_shim(lambda: owui.invoke(uds_pipe, chat_body(shim, "sim/text")))
    assert streamed_text(items).startswith(LEAD)
    assert owui.events_of("status") == []


async def test_user_valves_reach_the_sidecar(
    shim: types.ModuleType, uds_pipe: Any, sidecar: Sidecar
) -> None:
    owui = OwuiSide()
    owui.user["valves"] = shim.Pipe.UserValves(USAGE_STATUS_STYLE="icons")
    await run_shim(lambda: owui.invoke(uds_pipe, chat_body(shim, "sim/text")))
    assert owui.events[-1]["data"]["description"].startswith("⧗ ")


async def test_admin_valves_reach_the_sidecar(
    shim: types.ModuleType, uds_pipe: Any, sidecar: Sidecar
) -> None:
    uds_pipe.valves = shim.Pipe.Valves(
        SIDECAR_ADDRESSES=uds_address(sidecar), USAGE_STATUS_STYLE="icons"
    )
    owui = OwuiSide()
    await run_shim(lambda: owui.invoke(uds_pipe, chat_body(shim, "sim/text")))
    assert owui.events[-1]["data"]["description"].startswith("⧗ ")


async def test_a_non_stream_request_returns_the_whole_answer_with_reasoning_folded(
    shim: types.ModuleType, uds_pipe: Any, sidecar: Sidecar
) -> None:
    owui = OwuiSide()
    body = chat_body(shim, "sim/reasoning", stream=False)
    answer = await run_shim(lambda: owui.invoke(uds_pipe, body))
    assert isinstance(answer, str)
    assert answer.startswith('<details type="reasoning" done="true">\n<summary>Thought</summary>\n')
    assert "> The user wrote: hello there." in answer
    assert answer.split("</details>\n", 1)[1].startswith(LEAD)


async def test_a_task_returns_only_the_answer_and_no_status(
    shim: types.ModuleType, uds_pipe: Any, sidecar: Sidecar
) -> None:
    owui = OwuiSide()
    body = chat_body(shim, "sim/reasoning", stream=True)  # Open WebUI sends tasks non-stream;
    answer = await run_shim(lambda: owui.invoke(uds_pipe, body, task="title_generation"))
    assert isinstance(answer, str)  # a task is answered whole whatever the body says
    assert answer.startswith(LEAD)
    assert owui.events == []


async def test_an_upstream_error_is_shown_as_markdown(
    shim: types.ModuleType, uds_pipe: Any, sidecar: Sidecar
) -> None:
    owui = OwuiSide()
    items = await run_shim(lambda: owui.invoke(uds_pipe, chat_body(shim, "sim/error-402")))
    assert len(items) == 1
    assert items[0].startswith("### ⚠️ Insufficient credits")
    assert "Error ID: err_" in items[0]


async def test_an_interrupted_answer_keeps_the_partial_text_then_the_notice(
    shim: types.ModuleType, uds_pipe: Any, sidecar: Sidecar
) -> None:
    owui = OwuiSide()
    body = chat_body(shim, "sim/fail-mid-stream")
    items = await run_shim(lambda: owui.invoke(uds_pipe, body))
    text = streamed_text(items)
    partial, notice = text.split("\n\n---\n\n", 1)
    assert partial.startswith("You said:")
    assert notice.startswith("⚠️ **The answer was interrupted.**")


async def test_an_unknown_model_is_explained(
    shim: types.ModuleType, uds_pipe: Any, sidecar: Sidecar
) -> None:
    owui = OwuiSide()
    items = await run_shim(lambda: owui.invoke(uds_pipe, chat_body(shim, "nobody/no-model")))
    assert "nobody/no-model" in streamed_text(items)


async def test_stop_closes_the_socket_and_ends_the_sidecar_session(
    shim: types.ModuleType, uds_pipe: Any, sidecar: Sidecar
) -> None:
    sessions = sidecar.running.gateway.sessions
    owui = OwuiSide()
    call = CancellableShimCall(lambda: owui.invoke(uds_pipe, chat_body(shim, "sim/stall")))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(call.run)
        await wait_until(lambda: sessions.statistics().active == 1)
        call.cancel()
    assert call.cancelled
    await wait_until(lambda: sessions.statistics().active == 0)
    assert sidecar.running.gateway.admission.statistics().running == 0


@pytest.mark.parametrize("stream", [True, False])
async def test_a_down_sidecar_gives_an_admin_a_clear_message_quickly(
    shim: types.ModuleType, tmp_path: Path, stream: bool
) -> None:
    pipe = shim.Pipe()
    dead = f"unix:{tmp_path / 'nobody.sock'},http://127.0.0.1:{free_port()}"
    pipe.valves = shim.Pipe.Valves(SIDECAR_ADDRESSES=dead)
    owui = OwuiSide()
    owui.user["role"] = "admin"
    started = time.monotonic()
    result = await run_shim(lambda: owui.invoke(pipe, chat_body(shim, "sim/text", stream=stream)))
    assert time.monotonic() - started < 5
    text = streamed_text(result) if stream else result
    assert text.startswith("### ⚠️ The pipe-service sidecar is not reachable")
    assert f"`unix:{tmp_path / 'nobody.sock'}`" in text
    assert "`pipe-service serve`" in text
    assert "SIDECAR_ADDRESSES" in text


@pytest.mark.parametrize("stream", [True, False])
async def test_a_down_sidecar_shows_a_user_no_socket_paths(
    shim: types.ModuleType, tmp_path: Path, stream: bool
) -> None:
    pipe = shim.Pipe()
    dead = f"unix:{tmp_path / 'nobody.sock'},http://127.0.0.1:{free_port()}"
    pipe.valves = shim.Pipe.Valves(SIDECAR_ADDRESSES=dead)
    owui = OwuiSide()  # role "user"
    result = await run_shim(lambda: owui.invoke(pipe, chat_body(shim, "sim/text", stream=stream)))
    text = streamed_text(result) if stream else result
    assert text.startswith("### ⚠️ The AI service is not available")
    assert str(tmp_path) not in text
    assert "127.0.0.1" not in text
    assert "SIDECAR_ADDRESSES" not in text


async def test_a_chat_fails_over_to_the_next_sidecar(
    shim: types.ModuleType, sidecar: Sidecar, tmp_path: Path
) -> None:
    pipe = shim.Pipe()
    pipe.valves = shim.Pipe.Valves(
        SIDECAR_ADDRESSES=f"unix:{tmp_path / 'nobody.sock'},{sidecar.base_url}",
        SIDECAR_TOKEN=sidecar.api_token,
    )
    owui = OwuiSide()
    items = await run_shim(lambda: owui.invoke(pipe, chat_body(shim, "sim/text")))
    assert streamed_text(items).startswith(LEAD)
