"""Open WebUI's REST API as the tests use it: the admin account, chats, chat history, tools."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

from pipe_service.bench.owui_process import OwuiAdmin

REQUEST_S = 60.0


Admin = OwuiAdmin
"""The admin account (signed up by ``sign_up_admin`` in pipe_service.bench.owui_process)."""


def model_ids(admin: Admin) -> list[str]:
    with admin.client() as client:
        response = client.get("/api/models")
    assert response.status_code == 200, response.text
    return [model["id"] for model in response.json()["data"]]


def complete(admin: Admin, model: str, content: str, **extra: Any) -> dict[str, Any]:
    """A non-streaming ``/api/chat/completions`` call (the API path, no chat saved)."""
    body = {"model": model, "messages": [{"role": "user", "content": content}], "stream": False}
    with admin.client() as client:
        response = client.post("/api/chat/completions", json=body | extra)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def stream(admin: Admin, model: str, content: str, **extra: Any) -> Iterator[dict[str, Any]]:
    """A streaming ``/api/chat/completions`` call: each ``data:`` JSON payload, ``[DONE]`` ends.

    Open WebUI ends the stream with ``data: [DONE]`` and no blank line after it; reading by
    lines copes with that.
    """
    body = {"model": model, "messages": [{"role": "user", "content": content}], "stream": True}
    with (
        admin.client() as client,
        client.stream("POST", "/api/chat/completions", json=body | extra) as response,
    ):
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            payload = line.removeprefix("data:").strip()
            if payload == "[DONE]":
                return
            yield json.loads(payload)


def delta_text(chunks: list[dict[str, Any]], key: str = "content") -> str:
    """Join ``choices[0].delta[key]`` over stream chunks."""
    parts = []
    for chunk in chunks:
        for choice in chunk.get("choices") or []:
            value = (choice.get("delta") or {}).get(key)
            if isinstance(value, str):
                parts.append(value)
    return "".join(parts)


def saved_chat(admin: Admin, chat_id: str) -> dict[str, Any]:
    with admin.client(jwt=True) as client:
        response = client.get(f"/api/v1/chats/{chat_id}")
    assert response.status_code == 200, response.text
    chat: dict[str, Any] = response.json()["chat"]
    return chat


def assistant_message(chat: dict[str, Any]) -> dict[str, Any]:
    """The last assistant message of a saved chat's history."""
    messages = chat["history"]["messages"]
    message: dict[str, Any] = messages[chat["history"]["currentId"]]
    assert message["role"] == "assistant", message
    return message


def create_tool(admin: Admin, tool_id: str, content: str) -> None:
    """Create (or replace) a workspace tool from Python source defining ``class Tools``."""
    form = {"id": tool_id, "name": tool_id, "content": content, "meta": {"description": tool_id}}
    with admin.client() as client:
        client.delete(f"/api/v1/tools/id/{tool_id}/delete")
        response = client.post("/api/v1/tools/create", json=form)
    assert response.status_code == 200, response.text


def add_user(admin: Admin, name: str, email: str, password: str = "e2e-user-password-1") -> Admin:
    """An ordinary (``role: user``) account made by the admin, signed in: its JWT doubles as the
    API credential (API keys are an admin-granted feature)."""
    form = {"name": name, "email": email, "password": password, "role": "user"}
    with admin.client() as client:
        added = client.post("/api/v1/auths/add", json=form)
    assert added.status_code == 200, added.text
    signin = httpx.post(
        f"{admin.url}/api/v1/auths/signin",
        json={"email": email, "password": password},
        timeout=REQUEST_S,
    )
    assert signin.status_code == 200, signin.text
    assert signin.json()["role"] == "user"
    jwt = signin.json()["token"]
    return Admin(admin.url, jwt, jwt)


def models(account: Admin) -> dict[str, dict[str, Any]]:
    """``GET /api/models`` as ``account`` sees it: id → model (``info.meta.capabilities``…)."""
    with account.client() as client:
        response = client.get("/api/models", params={"refresh": "true"})
    assert response.status_code == 200, response.text
    return {model["id"]: model for model in response.json()["data"]}


def upload_file(account: Admin, name: str, data: bytes, content_type: str) -> dict[str, Any]:
    """``POST /api/v1/files/?process=false``: the file record the UI sends along with a chat."""
    with account.client() as client:
        response = client.post(
            "/api/v1/files/",
            params={"process": "false"},
            files={"file": (name, data, content_type)},
        )
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()
    return record
