"""Frame handling against a scripted sidecar: the request the shim sends, UI calls, file
saves, direct tools, and the bounds on a silent or vanished sidecar."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.shim.harness import OwuiSide, chat_body, run_shim, streamed_text
from tests.shim.scripted_sidecar import DONE, Peer, scripted_sidecar

SPEC = {"name": "lookup", "description": "d", "parameters": {"type": "object", "properties": {}}}


def _pipe(shim: types.ModuleType, url: str, **valves: Any) -> Any:
    pipe = shim.Pipe()
    pipe.valves = shim.Pipe.Valves(SIDECAR_ADDRESSES=url, **valves)
    return pipe


async def _answer_done(peer: Peer) -> None:
    await peer.send({"type": "delta", "text": "ok"})
    await peer.send(DONE)


async def test_the_request_frame_carries_what_open_webui_passed(shim: types.ModuleType) -> None:
    async def tool(**_: Any) -> str:
        return ""

    owui = OwuiSide(
        tools={
            "lookup": {"callable": tool, "spec": SPEC},
            "browser_tool": {"direct": True, "spec": {**SPEC, "name": "browser_tool"}},
            "no_callable": {"spec": {**SPEC, "name": "no_callable"}},
        }
    )
    owui.user["valves"] = shim.Pipe.UserValves(
        OPENROUTER_API_KEY="sk-or-user", REASONING_EFFORT="high"
    )
    files = [
        {
            "type": "file",
            "id": "f1",
            "name": "a.pdf",
            "file": {"meta": {"content_type": "application/pdf"}, "data": {"content": "x" * 1000}},
        }
    ]
    body = chat_body(shim, "sim/text")
    async with scripted_sidecar(_answer_done) as fake:
        pipe = _pipe(shim, fake.url, REASONING_SUMMARY_MODE="concise")
        items = await run_shim(lambda: owui.invoke(pipe, body, files=files))
    assert items == ["ok"]
    hello, request = fake.peers[0].received
    assert hello == {"type": "hello", "protocols": [1], "shim_version": shim.SHIM_VERSION}
    assert request == {
        "type": "request",
        "model": "openrouter_pipe.sim__text",
        "body": body,
        "stream": True,
        "user": {"id": "user-1", "email": "ada@example.com", "name": "Ada", "role": "user"},
        "user_valves": {"REASONING_EFFORT": "high"},
        "valves": {"REASONING_SUMMARY_MODE": "concise"},
        "metadata": {
            "chat_id": "chat-1",
            "message_id": "msg-1",
            "session_id": "sid-1",
            "task": None,
        },
        "tools": [
            {"name": "lookup", "spec": SPEC, "kind": "callable"},
            {"name": "browser_tool", "spec": {**SPEC, "name": "browser_tool"}, "kind": "direct"},
        ],
        "files": [{"type": "file", "id": "f1", "name": "a.pdf", "content_type": "application/pdf"}],
        "api_key": "sk-or-user",
    }


async def test_an_event_call_is_answered_from_the_ui(shim: types.ModuleType) -> None:
    async def script(peer: Peer) -> None:
        event = {"type": "confirmation", "data": {"title": "Go?", "message": "Sure?"}}
        await peer.send({"type": "event_call", "call_id": "c1", "event": event})
        await peer.receive()
        await _answer_done(peer)

    owui = OwuiSide(call_replies=[True])
    async with scripted_sidecar(script) as fake:
        await run_shim(lambda: owui.invoke(_pipe(shim, fake.url), chat_body(shim, "sim/text")))
    assert owui.calls == [{"type": "confirmation", "data": {"title": "Go?", "message": "Sure?"}}]
    assert fake.peers[0].received[-1] == {
        "type": "event_call_result",
        "call_id": "c1",
        "result": True,
    }


async def test_a_direct_tool_runs_through_execute_tool(shim: types.ModuleType) -> None:
    async def script(peer: Peer) -> None:
        await peer.send(
            {"type": "tool_call", "call_id": "t1", "name": "browser_tool", "arguments": '{"q": 1}'}
        )
        await peer.receive()
        await _answer_done(peer)

    server = {"url": "http://tools.local"}
    owui = OwuiSide(
        tools={"browser_tool": {"direct": True, "spec": SPEC, "server": server}},
        call_replies=[{"answer": 42}],
    )
    async with scripted_sidecar(script) as fake:
        await run_shim(lambda: owui.invoke(_pipe(shim, fake.url), chat_body(shim, "sim/text")))
    assert owui.calls == [
        {
            "type": "execute:tool",
            "data": {
                "id": "t1",
                "name": "browser_tool",
                "params": {"q": 1},
                "server": server,
                "session_id": "sid-1",
            },
        }
    ]
    assert fake.peers[0].received[-1] == {
        "type": "tool_result",
        "call_id": "t1",
        "output": '{"answer": 42}',
    }


async def test_an_unknown_tool_is_an_error_result(shim: types.ModuleType) -> None:
    async def script(peer: Peer) -> None:
        await peer.send({"type": "tool_call", "call_id": "t1", "name": "gone", "arguments": "{}"})
        await peer.receive()
        await _answer_done(peer)

    async with scripted_sidecar(script) as fake:
        owui = OwuiSide()
        await run_shim(lambda: owui.invoke(_pipe(shim, fake.url), chat_body(shim, "sim/text")))
    reply = fake.peers[0].received[-1]
    assert reply["call_id"] == "t1"
    assert "'gone' is not available" in reply["error"]


def _install_fake_open_webui(
    monkeypatch: pytest.MonkeyPatch, uploads: list[dict[str, Any]]
) -> None:
    class UploadFile:
        def __init__(self, *, file: Any, filename: str, headers: dict[str, str]) -> None:
            self.file, self.filename, self.headers = file, filename, headers

    class Users:
        @staticmethod
        async def get_user_by_id(user_id: str) -> Any:
            return types.SimpleNamespace(id=user_id)

    async def upload_file_handler(request: Any, **kwargs: Any) -> Any:
        upload = kwargs["file"]
        uploads.append(
            {
                **kwargs,
                "data": upload.file.read(),
                "filename": upload.filename,
                "headers": upload.headers,
            }
        )
        return types.SimpleNamespace(id="file-9")

    modules = {
        "fastapi": types.SimpleNamespace(UploadFile=UploadFile),
        "open_webui": types.ModuleType("open_webui"),
        "open_webui.models": types.ModuleType("open_webui.models"),
        "open_webui.models.users": types.SimpleNamespace(Users=Users),
        "open_webui.routers": types.ModuleType("open_webui.routers"),
        "open_webui.routers.files": types.SimpleNamespace(upload_file_handler=upload_file_handler),
    }
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)


STORE = {
    "type": "store_file",
    "call_id": "s1",
    "name": "cat.png",
    "content_type": "image/png",
    "data_b64": "iVBORw==",
}


async def _store_script(peer: Peer) -> None:
    await peer.send(STORE)
    await peer.receive()
    await _answer_done(peer)


async def test_store_file_saves_through_upload_file_handler(
    shim: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    uploads: list[dict[str, Any]] = []
    _install_fake_open_webui(monkeypatch, uploads)
    app = types.SimpleNamespace(url_path_for=lambda name, id: f"/api/v1/files/{id}/content")
    request = types.SimpleNamespace(app=app)
    owui = OwuiSide()
    async with scripted_sidecar(_store_script) as fake:
        pipe = _pipe(shim, fake.url)
        await run_shim(lambda: owui.invoke(pipe, chat_body(shim, "sim/text"), request=request))
    (upload,) = uploads
    assert upload["data"] == b"\x89PNG"
    assert upload["filename"] == "cat.png"
    assert upload["headers"] == {"content-type": "image/png"}
    assert upload["process"] is False
    assert upload["process_in_background"] is False
    assert upload["user"].id == "user-1"
    stored = {
        "id": "file-9",
        "url": "/api/v1/files/file-9/content",
        "name": "cat.png",
        "content_type": "image/png",
    }
    assert owui.events_of("files") == [
        {"type": "files", "data": {"files": [{"type": "image", **stored}]}}
    ]
    assert fake.peers[0].received[-1] == {"type": "file_stored", "call_id": "s1", "file": stored}


async def test_store_file_outside_open_webui_replies_an_error(shim: types.ModuleType) -> None:
    owui = OwuiSide()
    async with scripted_sidecar(_store_script) as fake:
        await run_shim(lambda: owui.invoke(_pipe(shim, fake.url), chat_body(shim, "sim/text")))
    reply = fake.peers[0].received[-1]
    assert reply["type"] == "file_stored"
    assert "file storage is not available" in reply["error"]
    assert owui.events_of("files") == []


async def test_a_silent_sidecar_is_bounded_by_the_idle_timeout(shim: types.ModuleType) -> None:
    async def script(peer: Peer) -> None:
        await peer.send({"type": "delta", "text": "partial"})
        await trio.sleep_forever()

    owui = OwuiSide()
    owui.user["role"] = "admin"  # admins see the technical reason
    async with scripted_sidecar(script) as fake:
        pipe = _pipe(shim, fake.url, IDLE_TIMEOUT_S=0.2)
        items = await run_shim(lambda: owui.invoke(pipe, chat_body(shim, "sim/text")))
    assert items[0] == "partial"
    assert "stopped answering" in items[1]
    assert "no frame from the sidecar for 0.2 s" in items[1]


async def test_a_sidecar_closing_mid_answer_is_reported(shim: types.ModuleType) -> None:
    async def script(peer: Peer) -> None:
        await peer.send({"type": "delta", "text": "partial"})

    owui = OwuiSide()
    owui.user["role"] = "admin"
    async with scripted_sidecar(script) as fake:
        items = await run_shim(
            lambda: owui.invoke(_pipe(shim, fake.url), chat_body(shim, "sim/text"))
        )
    assert items[0] == "partial"
    assert "closed the connection mid-answer" in items[1]


async def test_a_refused_handshake_is_named_and_the_next_address_tried(
    shim: types.ModuleType, tmp_path: Path
) -> None:
    refusal = {"type": "error", "code": "unsupported_version", "message": "speaks [2]"}
    owui = OwuiSide()
    owui.user["role"] = "admin"  # admins see each address and its reason
    async with (
        scripted_sidecar(_answer_done, welcome=refusal) as refusing,
        scripted_sidecar(_answer_done) as working,
    ):
        pipe = _pipe(shim, f"{refusing.url},{working.url}")
        items = await run_shim(lambda: owui.invoke(pipe, chat_body(shim, "sim/text")))
        assert items == ["ok"]
        alone = _pipe(shim, refusing.url)
        message = await run_shim(lambda: owui.invoke(alone, chat_body(shim, "sim/text")))
    assert "refused the session: speaks [2]" in streamed_text(message)


async def test_a_user_is_told_the_service_stopped_without_the_sidecars_address(
    shim: types.ModuleType,
) -> None:
    async def script(peer: Peer) -> None:
        await peer.send({"type": "delta", "text": "partial"})
        await trio.sleep_forever()

    owui = OwuiSide()  # role "user"
    async with scripted_sidecar(script) as fake:
        pipe = _pipe(shim, fake.url, IDLE_TIMEOUT_S=0.2)
        items = await run_shim(lambda: owui.invoke(pipe, chat_body(shim, "sim/text")))
    assert items[1] == "\n\n⚠️ **The AI service stopped answering.** Try again."
