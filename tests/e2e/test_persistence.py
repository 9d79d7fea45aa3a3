"""Stored reasoning through the real Open WebUI: a two-turn UI chat replays the first turn's
reasoning item upstream, and a second (plain) user who pastes the first user's answer gets
nothing replayed. What reached "OpenRouter" is read from the simulator's request log."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pipe_service.persistence.markers import find_markers
from tests.e2e.conftest import InstalledShim, Stack
from tests.e2e.owui_rest import REQUEST_S, assistant_message, saved_chat
from tests.e2e.processes import log_tail
from tests.e2e.test_media import create_plain_user, ensure_model_entry
from tests.e2e.ui_chat import UiChat

pytestmark = pytest.mark.e2e

MODEL = "sim/encrypted-reasoning"


def simulator_requests(stack: Stack) -> list[dict[str, Any]]:
    with stack.sidecar.simulator_client() as client:
        records = client.get("/_sim/requests", timeout=REQUEST_S).json()["data"]
    return [record["body"] for record in records if record["model"] == MODEL]


def input_types(body: dict[str, Any]) -> list[str]:
    return [item["type"] for item in body["input"]]


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
    ensure_model_entry(admin, model)  # plain users see only models with an entry
    user = create_plain_user(admin)
    history = [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": first["content"]},
        {"role": "user", "content": "And 3+3?"},
    ]
    reply = httpx.post(
        f"{stack.owui.url}/api/chat/completions",
        json={"model": model, "messages": history, "stream": False},
        headers={"Authorization": f"Bearer {user.jwt}"},
        timeout=REQUEST_S,
    )
    assert reply.status_code == 200, reply.text
    stolen = simulator_requests(stack)[-1]
    assert "reasoning" not in input_types(stolen)
    assert "another user or chat" in log_tail(stack.sidecar.log_path, 400)
