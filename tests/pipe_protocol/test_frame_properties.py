"""Property tests: no input the shim can send makes the sidecar do anything but answer.

``parse_client_frame`` and ``map_request`` are pure, so they take hundreds to thousands of
hypothesis examples; the live sample (every frame on its own connection) is smaller and seeded.
"""

from __future__ import annotations

import json
import random
from typing import Any

import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from pipe_service.front.pipe.request import map_request
from pipe_service.protocol import ErrorCode, ProtocolError, Request, parse_client_frame
from pipe_service.transform.options import TransformOptions
from tests.pipe_protocol.conftest import open_shim, request_frame
from tests.service.conftest import Sidecar

CODES = {
    value for name, value in vars(ErrorCode).items() if name.isupper() and isinstance(value, str)
}
FRAME_TYPES = ["hello", "request", "tool_result", "event_call_result", "file_stored", "cancel"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=6,
)
frame_like = st.fixed_dictionaries(
    {"type": st.sampled_from(FRAME_TYPES)},
    optional={
        key: json_values
        for key in ("protocols", "model", "body", "user", "call_id", "output", "valves", "tools")
    },
)


@settings(max_examples=600, deadline=None)
@given(st.binary(max_size=256) | st.text(max_size=256))
def test_any_bytes_or_text_parse_to_a_frame_or_a_protocol_error(raw: bytes | str) -> None:
    try:
        parse_client_frame(raw)
        code = None
    except ProtocolError as exc:
        code = exc.code
    assert code is None or code in CODES


@settings(max_examples=150, deadline=None)
@given(frame_like)
def test_frame_shaped_json_parses_to_a_frame_or_a_bad_frame(data: dict[str, Any]) -> None:
    try:
        parsed_type, code = parse_client_frame(json.dumps(data)).type, None
    except ProtocolError as exc:
        parsed_type, code = None, exc.code
    assert (parsed_type, code) in {(data["type"], None), (None, ErrorCode.BAD_FRAME)}


valve_names = st.sampled_from(
    [
        "REASONING_EFFORT",
        "reasoning_summary_mode",
        "ENABLE_REASONING",
        "SHOW_FINAL_USAGE_STATUS",
        "USAGE_STATUS_STYLE",
        "THINKING_OUTPUT_MODE",
        "TOOL_EXECUTION_MODE",
        "WEB_SEARCH",
        "web_search_max_results",
        "provider_routing",
        "fallback_models",
        "UNKNOWN_VALVE",
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(valve_names, json_values, max_size=4),
    st.dictionaries(valve_names, json_values, max_size=4),
)
def test_any_valves_map_to_arguments_or_an_invalid_request(
    valves: dict[str, Any], user_valves: dict[str, Any]
) -> None:
    frame = Request.model_validate(
        request_frame("sim/text", valves=valves, user_valves=user_valves)
    )
    try:
        map_request(frame, defaults=TransformOptions())
        code = None
    except ProtocolError as exc:
        code = exc.code
    assert code in {None, ErrorCode.INVALID_REQUEST}


def _garbage_frames(count: int, seed: int) -> list[str | bytes]:
    rng = random.Random(seed)
    frames: list[str | bytes] = []
    for index in range(count):
        kind = index % 4
        if kind == 0:
            frames.append(rng.randbytes(rng.randrange(0, 64)))
        elif kind == 1:
            frames.append("".join(chr(rng.randrange(1, 0x3000)) for _ in range(20)))
        elif kind == 2:
            frames.append(json.dumps({"type": rng.choice(FRAME_TYPES), "x": rng.random()}))
        else:
            valid = request_frame("sim/text")
            del valid[rng.choice(["model", "body", "user"])]
            frames.append(json.dumps(valid))
    return frames


async def test_garbage_after_hello_gets_an_error_frame_and_a_close(sidecar: Sidecar) -> None:
    with trio.fail_after(15):
        for raw in _garbage_frames(24, seed=7):
            async with open_shim(sidecar) as shim:
                await shim.hello()
                await shim.send(raw)
                session = await shim.until_closed()
            assert session.close_code == 1000
            assert [frame["type"] for frame in session.frames] == ["error"], raw
            assert session.last["code"] in CODES
        async with sidecar.uds_client() as http:
            assert (await http.get("/healthz")).status_code == 200
    assert sum(stats.restarts for stats in sidecar.supervisor.statistics()) == 0
    assert sidecar.running.gateway.sessions.statistics().crashed == 0
