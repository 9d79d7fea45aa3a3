"""A request's answer as frames: deltas, reasoning, sources, and the final ``done``."""

from __future__ import annotations

from tests.pipe_protocol.conftest import chat_body, request_frame, run_request
from tests.service.conftest import Sidecar


async def test_sim_text_streams_deltas_then_done(sidecar: Sidecar) -> None:
    session = await run_request(sidecar, request_frame("sim/text"))
    assert session.text.startswith("You said: hello pipe")
    assert session.last["type"] == "done"
    assert session.last["finish_reason"] == "stop"
    assert [f["type"] for f in session.frames[:-1]] == ["delta"] * len(session.frames[:-1])
    assert session.close_code == 1000


async def test_the_open_webui_model_id_is_accepted(sidecar: Sidecar) -> None:
    session = await run_request(sidecar, request_frame("openrouter_pipe.sim__text"))
    assert session.text.startswith("You said:")
    assert session.last["type"] == "done"


async def test_done_carries_usage_with_cost(sidecar: Sidecar) -> None:
    done = (await run_request(sidecar, request_frame("sim/text"))).last
    assert done["usage"]["completion_tokens"] > 0
    assert done["usage"]["prompt_tokens"] > 0
    assert done["usage"]["cost"] > 0


async def test_usage_line_uses_the_text_style_by_default(sidecar: Sidecar) -> None:
    done = (await run_request(sidecar, request_frame("sim/text"))).last
    assert done["usage_line"].startswith("Time: ")
    assert "Total tokens:" in done["usage_line"]
    assert done["usage_line"].endswith("sim/text")


async def test_usage_line_uses_icons_when_the_user_asks(sidecar: Sidecar) -> None:
    request = request_frame("sim/text", user_valves={"USAGE_STATUS_STYLE": "icons"})
    done = (await run_request(sidecar, request)).last
    assert done["usage_line"].startswith("⧗ ")
    assert "⇅" in done["usage_line"]


async def test_usage_line_is_omitted_when_the_user_turns_it_off(sidecar: Sidecar) -> None:
    request = request_frame("sim/text", user_valves={"show_final_usage_status": False})
    done = (await run_request(sidecar, request)).last
    assert "usage_line" not in done
    assert done["usage"]["total_tokens"] > 0


async def test_sim_reasoning_sends_reasoning_frames_before_the_text(sidecar: Sidecar) -> None:
    session = await run_request(sidecar, request_frame("sim/reasoning"))
    types = [frame["type"] for frame in session.frames]
    assert "reasoning" in types
    assert types.index("reasoning") < types.index("delta")
    reasoning = "".join(frame["text"] for frame in session.of_type("reasoning"))
    assert reasoning.strip()
    assert reasoning not in session.text


async def test_thinking_output_mode_status_shows_reasoning_as_status_events(
    sidecar: Sidecar,
) -> None:
    request = request_frame("sim/reasoning", user_valves={"THINKING_OUTPUT_MODE": "status"})
    session = await run_request(sidecar, request)
    assert session.of_type("reasoning") == []
    statuses = [f["event"] for f in session.of_type("event") if f["event"]["type"] == "status"]
    assert statuses
    assert statuses[0]["data"]["description"].startswith("Thinking…")


async def test_web_citations_arrive_as_source_events(sidecar: Sidecar) -> None:
    session = await run_request(sidecar, request_frame("sim/web-citations"))
    sources = [f["event"] for f in session.of_type("event") if f["event"]["type"] == "source"]
    assert len(sources) == 2
    for source in sources:
        assert source["data"]["source"]["url"].startswith("http")
        assert source["data"]["metadata"][0]["source"] == source["data"]["source"]["url"]
    assert session.last["type"] == "done"


async def test_non_stream_request_returns_the_answer_in_done_content(sidecar: Sidecar) -> None:
    session = await run_request(sidecar, request_frame("sim/text", stream=False))
    assert session.of_type("delta") == []
    assert session.last["type"] == "done"
    assert session.last["content"].startswith("You said: hello pipe")


async def test_non_stream_reasoning_is_returned_in_done(sidecar: Sidecar) -> None:
    session = await run_request(sidecar, request_frame("sim/reasoning", stream=False))
    assert session.of_type("reasoning") == []
    assert session.last["reasoning"].strip()
    assert session.last["content"].strip()


async def test_task_request_is_answered_whole_without_usage_line(sidecar: Sidecar) -> None:
    request = request_frame(
        "sim/text",
        body=chat_body("Generate a title"),
        metadata={"chat_id": "chat-1", "task": "title_generation"},
    )
    session = await run_request(sidecar, request)
    assert [frame["type"] for frame in session.frames] == ["done"]
    assert session.last["content"].startswith("You said: Generate a title")
    assert "usage_line" not in session.last


async def test_the_admins_icon_set_is_used_in_the_icon_style(sidecar: Sidecar) -> None:
    request = request_frame(
        "sim/text",
        valves={"USAGE_STATUS_STYLE": "icons", "USAGE_STATUS_ICON_SET": "T,C,S,I,O,K,R"},
    )
    done = (await run_request(sidecar, request)).last
    assert done["usage_line"].startswith("T ")
    assert "S " in done["usage_line"]
