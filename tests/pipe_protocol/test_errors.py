"""Failures as frames: refused requests, upstream errors, and answers cut off mid-stream."""

from __future__ import annotations

from typing import Any

import pytest

from tests.pipe_protocol.conftest import request_frame, run_request
from tests.service.conftest import Sidecar


@pytest.fixture
def sidecar_overrides() -> dict[str, Any]:
    # One attempt, so the 429 reaches the shim at once with the simulator's Retry-After.
    return {"simulator_retry_after_s": 7, "upstream": {"retry_max_attempts": 1}}


async def test_unknown_model_gets_unknown_model_error(sidecar: Sidecar) -> None:
    session = await run_request(sidecar, request_frame("nobody/nothing"))
    assert [frame["type"] for frame in session.frames] == ["error"]
    assert session.last["code"] == "unknown_model"
    assert "nobody/nothing" in session.last["message"]
    assert session.close_code == 1000


async def test_invalid_admin_valve_is_an_invalid_request_naming_the_valve(
    sidecar: Sidecar,
) -> None:
    request = request_frame("sim/text", valves={"REASONING_EFFORT": "enormous"})
    error = (await run_request(sidecar, request)).last
    assert error["type"] == "error"
    assert error["code"] == "invalid_request"
    assert "REASONING_EFFORT" in error["message"]


async def test_invalid_user_valve_is_an_invalid_request_naming_the_valve(
    sidecar: Sidecar,
) -> None:
    request = request_frame("sim/text", user_valves={"USAGE_STATUS_STYLE": "emoji"})
    error = (await run_request(sidecar, request)).last
    assert error["code"] == "invalid_request"
    assert "USAGE_STATUS_STYLE" in error["message"]


async def test_unknown_valves_are_ignored(sidecar: Sidecar) -> None:
    request = request_frame(
        "sim/text", valves={"NO_SUCH_VALVE": 1}, user_valves={"ALSO_UNKNOWN": "x"}
    )
    assert (await run_request(sidecar, request)).last["type"] == "done"


async def test_a_body_the_transform_rejects_is_an_invalid_request(sidecar: Sidecar) -> None:
    request = request_frame("sim/text", body={"messages": "not a list"})
    error = (await run_request(sidecar, request)).last
    assert error["code"] == "invalid_request"
    assert "messages" in error["message"]


async def test_upstream_429_is_an_upstream_error_with_retry_after(sidecar: Sidecar) -> None:
    error = (await run_request(sidecar, request_frame("sim/error-429"))).last
    assert error["type"] == "error"
    assert error["code"] == "upstream_error"
    assert error["retry_after_s"] == 7
    assert error["error_id"] in error["message"]
    assert "Rate limit" in error["message"]


async def test_failure_mid_stream_keeps_the_deltas_then_reports_interrupted(
    sidecar: Sidecar,
) -> None:
    session = await run_request(sidecar, request_frame("sim/fail-mid-stream"))
    assert session.text
    assert session.last["type"] == "error"
    assert session.last["code"] == "interrupted"
    assert session.last["message"].startswith("\n\n---")
    assert session.last["error_id"] in session.last["message"]


async def test_the_admins_error_template_words_the_error(sidecar: Sidecar) -> None:
    template = "Sorry ({title}). Write to help@example.com quoting {error_id}."
    request = request_frame("sim/error-429", valves={"ERROR_TEMPLATE": template})
    error = (await run_request(sidecar, request)).last
    assert (
        error["message"]
        == f"Sorry (Rate limit reached). Write to help@example.com quoting {error['error_id']}."
    )


async def test_the_admins_interrupted_template_words_the_notice(sidecar: Sidecar) -> None:
    request = request_frame(
        "sim/fail-mid-stream", valves={"STREAM_INTERRUPTED_TEMPLATE": "\n\n[cut off: {kind}]"}
    )
    session = await run_request(sidecar, request)
    assert session.last["code"] == "interrupted"
    assert session.last["message"].startswith("\n\n[cut off: ")
