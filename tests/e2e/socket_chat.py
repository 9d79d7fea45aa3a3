"""Drive one UI-style Open WebUI chat over socket.io and print what happens as JSON lines.

Runs with the **Open WebUI venv's** python (it ships python-socketio and aiohttp; the sidecar's
venv does not), launched by ``tests/e2e/ui_chat.py``. It does what the browser does: connect to
``/ws/socket.io`` with the user's JWT, ``user-join``, then ``POST /api/chat/completions`` with
the session id, a new or existing chat and the message ids. Output, one JSON object per line:

- ``{"kind": "started", "status": <http status>, "body": <reply: task_ids, chat_id>}``
- ``{"kind": "event", "payload": {"chat_id", "message_id", "data": {"type", "data"}}}`` for
  every socket ``events`` message (replies to event calls: confirmation → true, input → "e2e")
- ``{"kind": "end", "reason": "inactive" | "timeout" | "http_error"}`` then exit.

The chat ends when Open WebUI emits ``chat:active`` with ``active: false`` for this chat (it does
so after saving the message, on success, error or stop).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from typing import Any

import aiohttp
import socketio


def emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def chat_body(args: argparse.Namespace, session_id: str) -> dict[str, Any]:
    user_message_id = str(uuid.uuid4())
    files = json.loads(args.files_json) if args.files_json else []
    body: dict[str, Any] = {
        "model": args.model,
        "stream": True,
        "messages": [{"role": "user", "content": args.content}],
        "parent_id": args.parent_id,
        "user_message": {
            "id": user_message_id,
            "parentId": args.parent_id,
            "childrenIds": [],
            "role": "user",
            "content": args.content,
            "files": files,
            "models": [args.model],
            "timestamp": int(time.time()),
        },
        "id": str(uuid.uuid4()),
        "session_id": session_id,
        "files": files,
        "background_tasks": {},
    }
    if args.chat_id:
        body["chat_id"] = args.chat_id
    if args.tool_ids:
        body["tool_ids"] = args.tool_ids.split(",")
    return body


async def run(args: argparse.Namespace) -> None:
    sio = socketio.AsyncClient(reconnection=False)
    chat_id: list[str] = []
    finished = asyncio.Event()

    @sio.on("events")
    async def on_event(payload: dict[str, Any]) -> Any:
        emit({"kind": "event", "payload": payload})
        data = payload.get("data") or {}
        if (
            data.get("type") == "chat:active"
            and (data.get("data") or {}).get("active") is False
            and payload.get("chat_id") in chat_id
        ):
            finished.set()
        return {"confirmation": True, "input": "e2e"}.get(data.get("type"))

    await sio.connect(
        args.url,
        socketio_path="/ws/socket.io",
        auth={"token": args.token},
        transports=["websocket"],
        wait_timeout=10,
    )
    await sio.emit("user-join", {"auth": {"token": args.token}})
    headers = {"Authorization": f"Bearer {args.token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{args.url}/api/chat/completions", json=chat_body(args, sio.sid), headers=headers
        ) as response,
    ):
        body = await response.json(content_type=None)
    emit({"kind": "started", "status": response.status, "body": body})
    reason = "http_error"
    if response.status == 200 and isinstance(body, dict) and body.get("chat_id"):
        chat_id.append(body["chat_id"])
        try:
            await asyncio.wait_for(finished.wait(), args.max_s)
            reason = "inactive"
        except TimeoutError:
            reason = "timeout"
    emit({"kind": "end", "reason": reason})
    await sio.disconnect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True, help="the user's JWT (socket.io needs a JWT)")
    parser.add_argument("--model", required=True)
    parser.add_argument("--content", required=True)
    parser.add_argument("--chat-id", default=None)
    parser.add_argument("--parent-id", default=None)
    parser.add_argument("--tool-ids", default="", help="comma-separated workspace tool ids")
    parser.add_argument("--max-s", type=float, default=60.0)
    parser.add_argument("--files-json", default="", help="JSON list of Open WebUI file items")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
