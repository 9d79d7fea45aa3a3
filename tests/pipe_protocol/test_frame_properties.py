"""Property tests: no input the shim can send makes the sidecar do anything but answer.

``parse_client_frame`` and ``map_request`` are pure, so they take hundreds to thousands of
hypothesis examples; the live sample (every frame on its own connection) is smaller and seeded.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from pipe_service.front.pipe.request import map_request
from pipe_service.protocol import ErrorCode, ProtocolError, Request, parse_client_frame
from pipe_service.transform.options import TransformOptions
from tests.hostile_json import Hostile, hostile_documents, invalid_utf8
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


REQUEST_FRAMES = st.builds(
    lambda text, tools, valves, stream: request_frame(
        "sim/text",
        body={"messages": [{"role": "user", "content": text}], "temperature": 0.5},
        tools=tools,
        valves=valves,
        stream=stream,
        metadata={"chat_id": "c", "message_id": "m", "task": None},
        files=[{"id": "f", "name": "n"}],
        api_key=None,
    ),
    st.text(max_size=10),
    st.just([{"name": "weather", "spec": {"name": "weather", "parameters": {"type": "object"}}}]),
    st.just({"REASONING_EFFORT": "low", "TOOL_EXECUTION_MODE": "pipeline"}),
    st.booleans(),
)


@settings(max_examples=400, deadline=None)
@given(hostile_documents(REQUEST_FRAMES))
def test_hostile_values_anywhere_in_a_request_frame_give_a_protocol_error_or_a_turn(
    case: tuple[str, Hostile],
) -> None:
    """Deep nesting, non-finite numbers and lone surrogates are refused at the door (bad_frame);
    a wrong type in any field is bad_frame or invalid_request, or (where the type is free) a
    valid request, whose arguments can be sent upstream as JSON."""
    text, hostile = case
    try:
        frame, code = parse_client_frame(text), None
    except ProtocolError as exc:
        frame, code = None, exc.code
    if frame is None:
        assert code == ErrorCode.BAD_FRAME
        return
    assert not hostile.must_refuse, hostile.kind
    if not isinstance(frame, Request):
        return
    try:
        arguments, code = map_request(frame, defaults=TransformOptions()), None
    except ProtocolError as exc:
        arguments, code = None, exc.code
    if arguments is None:
        assert code == ErrorCode.INVALID_REQUEST
        return
    # Whatever passed can be encoded the way httpx sends it upstream.
    json.dumps(arguments.body, allow_nan=False, ensure_ascii=False).encode("utf-8")


@settings(max_examples=200, deadline=None)
@given(invalid_utf8)
def test_invalid_utf8_frames_are_bad_frames(raw: bytes) -> None:
    with pytest.raises(ProtocolError) as raised:
        parse_client_frame(raw)
    assert raised.value.code == ErrorCode.BAD_FRAME


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
    valid_text = json.dumps(request_frame("sim/text", body={"messages": "@@"}))
    hostile = ["[" * 3000 + "]" * 3000, "NaN", "-Infinity", '"\\udc00"']
    for index in range(count):
        kind = index % 5
        if kind == 4:
            frames.append(valid_text.replace('"@@"', hostile[index % len(hostile)]))
        elif kind == 0:
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
        for raw in _garbage_frames(30, seed=7):
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
