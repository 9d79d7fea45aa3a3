"""An OpenAI-API client that stops reading a stream is cut off after ``send_stall_s``; its turn
and admission slot are freed, and the sidecar keeps serving others and can shut down."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio

from tests.service.conftest import Sidecar, wait_until

STALL_S = 0.3
BIG_WORD = "x" * 200_000


@pytest.fixture
def sidecar_overrides() -> dict[str, Any]:
    return {"send_stall_s": STALL_S}


def _large_answer_body() -> bytes:
    # sim/tool-call quotes a tool output back: ~1.6 MB of answer text fills the socket buffers.
    body = {
        "model": "sim/tool-call",
        "stream": True,
        "messages": [
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": " ".join([BIG_WORD] * 8)},
        ],
    }
    return json.dumps(body).encode()


async def test_a_stream_reader_that_stops_reading_is_disconnected(
    sidecar: Sidecar, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = sidecar.running.gateway
    payload = _large_answer_body()
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: sidecar\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode()
    with trio.fail_after(10):
        stream = await trio.open_unix_socket(str(sidecar.settings.effective_socket_path))
        async with stream:
            await stream.send_all(head + payload)
            # Never read: the sidecar's writes block once the socket buffers are full, until
            # the bound cuts the connection.
            await wait_until(lambda: "client stopped reading" in caplog.text)
            received = bytearray()
            while chunk := await stream.receive_some(1 << 16):
                received += chunk
            assert b"data: [DONE]" not in received  # cut off mid-answer, then end of stream
            await wait_until(lambda: gateway.sessions.statistics().active == 0)
            assert gateway.admission.statistics().running == 0
            async with sidecar.uds_client() as client:
                response = await client.post(
                    "/v1/chat/completions",
                    json={"model": "sim/text", "messages": [{"role": "user", "content": "hi"}]},
                )
            assert response.status_code == 200
