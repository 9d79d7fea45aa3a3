"""No key, token or payload body reaches a log line, an error, ``/status``, ``/metrics`` or
``pipe-service config``.

Canaries are planted everywhere a secret enters: the OpenRouter key, the API token, the log
archive key, a Redis password, a user's own OpenRouter key (sent as a bearer and in a shim
request), and a payload body (the user's message and a tool result). Then requests go through
every path: answers, upstream errors (a rejected key among them), mid-stream failures, bad
requests, unknown models, a failing tool; with DEBUG logging for that user, request logs
attached to errors, and encrypted archives on. Every log line, archive, error body, status and
metrics text, and the config output is searched for every canary.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import trio
from cryptography.fernet import Fernet

from pipe_service.cli import main as cli_main
from pipe_service.logsink.archive import archive_codec, read_archive
from tests.operations.conftest import OpsSidecar
from tests.pipe_protocol.conftest import open_shim, request_frame, run_request
from tests.service.conftest import wait_until

SERVICE_KEY = "sk-or-v1-CANARYSERVICEKEY0123456789abcdef"
USER_KEY = "sk-or-v1-CANARYUSERKEY0123456789abcdef"
API_TOKEN = "CANARY-API-TOKEN-0123456789"
REDIS_PASSWORD = "CANARYREDISPASSWORD"
FLEET_KEY = "CANARYFLEETENCRYPTIONKEY"
PAYLOAD = "CANARY-PAYLOAD-the-users-private-words"
TOOL_OUTPUT = "CANARY-TOOL-OUTPUT-private-result"
ARCHIVE_KEY = Fernet.generate_key().decode()
CANARIES = [
    SERVICE_KEY,
    USER_KEY,
    API_TOKEN,
    REDIS_PASSWORD,
    FLEET_KEY,
    PAYLOAD,
    TOOL_OUTPUT,
    ARCHIVE_KEY,
]
SECRETS_ONLY = [SERVICE_KEY, USER_KEY, API_TOKEN, REDIS_PASSWORD, FLEET_KEY, ARCHIVE_KEY]
USER = "u-leak"
TOOL_SPEC: dict[str, Any] = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture
def ops_overrides(tmp_path: Path) -> dict[str, Any]:
    return {
        "upstream_mode": "simulator",
        "openrouter_api_key": SERVICE_KEY,
        "api_token": API_TOKEN,
        "redis_url": f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0",
        # Keys of its own on the machine's shared Redis: other runs share that server.
        "redis": {"key_prefix": f"test-secret-leaks-{uuid.uuid4().hex[:8]}"},
        # A fleet (Redis set) needs its shared artifact key; it must not leak either.
        "persistence": {"encryption_key": FLEET_KEY},
        "tools": {"retries": 0},
        "admission": {"user_breaker_failures": 0},  # every path, not "slow down"
        "logging": {
            "user_levels": {USER: "DEBUG"},
            "attach_to_errors": True,
            "archive_dir": str(tmp_path / "archives"),
            "archive_key": ARCHIVE_KEY,
        },
    }


def found(text: str, canaries: list[str]) -> list[str]:
    return [canary for canary in canaries if canary in text]


def chat_body(model: str, *, stream: bool = True) -> dict[str, Any]:
    return {
        "model": model,
        "stream": stream,
        "user": USER,
        "messages": [{"role": "user", "content": PAYLOAD}],
    }


async def test_no_secret_or_payload_reaches_logs_errors_status_metrics_or_config(
    ops_sidecar: OpsSidecar,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    error_bodies: list[str] = []
    with trio.fail_after(30):
        async with ops_sidecar.uds_client() as client:
            for model in (
                "sim/text",
                "sim/error-400",
                "sim/error-401",
                "sim/error-429",
                "sim/error-502",
                "sim/fail-mid-stream",
                "no/such-model",
            ):
                for stream in (True, False):
                    reply = await client.post(
                        "/v1/chat/completions", json=chat_body(model, stream=stream)
                    )
                    if reply.status_code != 200 or model != "sim/text":
                        error_bodies.append(reply.text)
            # The user's own key as a bearer: the simulator rejects it (a 401 path).
            reply = await client.post(
                "/v1/chat/completions",
                json=chat_body("sim/text"),
                headers={"Authorization": f"Bearer {USER_KEY}"},
            )
            assert reply.status_code == 401
            error_bodies.append(reply.text)
            reply = await client.post(
                "/v1/chat/completions", content=b"{not json " + PAYLOAD.encode()
            )
            error_bodies.append(reply.text)
        for request in (
            request_frame("sim/error-401", api_key=USER_KEY, user={"id": USER}),
            request_frame("sim/fail-mid-stream", user={"id": USER}),
            # A body the transform refuses (messages must be a list): the invalid-request path.
            request_frame("sim/text", user={"id": USER}, body={"messages": PAYLOAD}),
            request_frame("sim/error-502", user={"id": USER}),
        ):
            request["body"] = request.get("body") or {}
            if request["model"] != "sim/text":
                request["body"] = {"messages": [{"role": "user", "content": PAYLOAD}]}
            session = await run_request(ops_sidecar, request)
            error_bodies.extend(json.dumps(f) for f in session.of_type("error"))
        async with open_shim(ops_sidecar) as shim:
            await shim.hello()
            tool_request = request_frame(
                "sim/tool-call",
                user={"id": USER},
                tools=[{"name": "get_weather", "spec": TOOL_SPEC}],
            )
            await shim.send(tool_request)
            call = await shim.receive_until("tool_call")
            await shim.send(
                {"type": "tool_result", "call_id": call["call_id"], "error": TOOL_OUTPUT}
            )
            await shim.until_closed()
        async with ops_sidecar.uds_client() as client:
            status_text = (await client.get("/status")).text
            metrics_text = (await client.get("/metrics")).text
    await wait_until(lambda: any("request finished" in line for line in ops_sidecar.writer.lines))
    await wait_until(lambda: len(sorted((tmp_path / "archives").rglob("*.fernet"))) >= 10)
    archives = sorted((tmp_path / "archives").rglob("*.fernet"))
    codec = archive_codec(ARCHIVE_KEY)
    archive_text = "\n".join(read_archive(path, codec) for path in archives)
    log_text = "\n".join(ops_sidecar.writer.lines)

    monkeypatch.setenv("OPENROUTER_API_KEY", SERVICE_KEY)
    monkeypatch.setenv("PIPE_SERVICE_API_TOKEN", API_TOKEN)
    monkeypatch.setenv("REDIS_URL", f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0")
    monkeypatch.setenv("PIPE_SERVICE_PERSISTENCE__ENCRYPTION_KEY", FLEET_KEY)
    monkeypatch.setenv("PIPE_SERVICE_LOGGING__ARCHIVE_DIR", str(tmp_path / "archives"))
    monkeypatch.setenv("PIPE_SERVICE_LOGGING__ARCHIVE_KEY", ARCHIVE_KEY)
    capsys.readouterr()
    assert cli_main(["config"]) == 0
    config_text = capsys.readouterr().out

    assert "request finished" in log_text  # the paths did log
    assert '"level": "DEBUG"' in log_text  # the user's DEBUG level let their records through
    assert "Request log" in "".join(error_bodies)  # request logs were attached to errors
    assert found(log_text, CANARIES) == []
    assert found(archive_text, CANARIES) == []
    assert found("\n".join(error_bodies), [*SECRETS_ONLY, TOOL_OUTPUT]) == []
    assert found(status_text, CANARIES) == []
    assert found(metrics_text, CANARIES) == []
    assert found(config_text, CANARIES) == []
