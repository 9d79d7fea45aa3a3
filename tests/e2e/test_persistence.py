"""Stored reasoning through the real Open WebUI: a two-turn UI chat replays the first turn's
reasoning item upstream, and a second (plain) user who pastes the first user's answer gets
nothing replayed. What reached "OpenRouter" is read from the simulator's request log."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pipe_service.persistence.markers import find_markers
from tests.e2e.conftest import InstalledShim, Stack
from tests.e2e.owui_rest import REQUEST_S, Admin, assistant_message, saved_chat
from tests.e2e.processes import log_tail
from tests.e2e.ui_chat import UiChat

pytestmark = pytest.mark.e2e

MODEL = "sim/encrypted-reasoning"
PLAIN_USER = {"name": "E2E User", "email": "replay-user@e2e.local", "password": "e2e-password-2"}


def simulator_requests(stack: Stack) -> list[dict[str, Any]]:
    simulator = stack.sidecar.status()["upstream"]["base_url"].removesuffix("/api/v1")
    records = httpx.get(f"{simulator}/_sim/requests", timeout=REQUEST_S).json()["data"]
    return [record["body"] for record in records if record["model"] == MODEL]


def input_types(body: dict[str, Any]) -> list[str]:
    return [item["type"] for item in body["input"]]


def plain_user_token(admin: Admin, model_id: str) -> str:
    """A non-admin user (created by the admin) who may use ``model_id``.

    Open WebUI hides a model without a model entry from plain users, so the admin creates the
    entry with a public read grant first.
    """
    with admin.client() as client:
        entry = {
            "id": model_id,
            "name": "Sim encrypted reasoning",
            "meta": {},
            "params": {},
            "access_grants": [
                {"principal_type": "user", "principal_id": "*", "permission": "read"}
            ],
        }
        created = client.post("/api/v1/models/create", json=entry)
        assert created.status_code == 200, created.text
        added = client.post("/api/v1/auths/add", json=PLAIN_USER | {"role": "user"})
    assert added.status_code == 200, added.text
    token: str = added.json()["token"]
    return token


def test_a_two_turn_chat_replays_the_first_turns_reasoning_and_a_copy_replays_nothing(
    stack: Stack, shim: InstalledShim
) -> None:
    model = shim.model(MODEL)
    admin = stack.admin
    with UiChat(stack.owui.python, stack.owui.url, admin.jwt, model, "What is 2+2?") as chat:
        chat_id = chat.started()["chat_id"]
        chat.finished()
    first = assistant_message(saved_chat(admin, chat_id))
    markers = find_markers(first["content"])
    assert len(markers) == 1, first["content"]

    with UiChat(
        stack.owui.python,
        stack.owui.url,
        admin.jwt,
        model,
        "And 3+3?",
        chat_id=chat_id,
        parent_id=first["id"],
    ) as chat:
        chat.finished()
    second_request = simulator_requests(stack)[-1]
    types = input_types(second_request)
    assert "reasoning" in types, types
    assert types.index("reasoning") < types.index("message", types.index("message") + 1)
    replayed = second_request["input"][types.index("reasoning")]
    assert replayed["encrypted_content"].startswith("gAAAA")
    assert "]: #" not in str(second_request)  # markers never reach the model

    # A second user pastes the first user's answer (markers included) into their own chat.
    token = plain_user_token(admin, model)
    history = [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": first["content"]},
        {"role": "user", "content": "And 3+3?"},
    ]
    reply = httpx.post(
        f"{stack.owui.url}/api/chat/completions",
        json={"model": model, "messages": history, "stream": False},
        headers={"Authorization": f"Bearer {token}"},
        timeout=REQUEST_S,
    )
    assert reply.status_code == 200, reply.text
    stolen = simulator_requests(stack)[-1]
    assert "reasoning" not in input_types(stolen)
    assert "another user or chat" in log_tail(stack.sidecar.log_path, 400)
