"""A scripted stand-in for the sidecar's ``/v1/pipe``: it plays frames the simulator cannot
produce (``event_call``, ``store_file``, silence, a cut connection) and records the shim's."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, serve_websocket

WELCOME = {"type": "welcome", "protocol": 1, "sidecar_version": "scripted"}
DONE = {"type": "done", "finish_reason": "stop"}
CLOSE_BOUND_S = 0.25


@dataclass
class Peer:
    """The scripted side of one connection."""

    ws: WebSocketConnection
    received: list[dict[str, Any]] = field(default_factory=list)

    async def receive(self) -> dict[str, Any]:
        with trio.fail_after(10):
            frame: dict[str, Any] = json.loads(await self.ws.get_message())
        self.received.append(frame)
        return frame

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_message(json.dumps(frame))


Script = Callable[[Peer], Awaitable[None]]


@dataclass
class ScriptedSidecar:
    url: str
    peers: list[Peer] = field(default_factory=list)


@asynccontextmanager
async def scripted_sidecar(script: Script, *, welcome: dict[str, Any] | None = None) -> Any:
    """Serve ``script`` on a loopback port: hello → ``welcome`` → request → script → close."""
    served: list[Peer] = []

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        peer = Peer(ws)
        served.append(peer)
        try:
            await peer.receive()  # hello
            await peer.send(welcome or WELCOME)
            if (welcome or WELCOME)["type"] == "welcome":
                await peer.receive()  # request
                await script(peer)
        except ConnectionClosed:
            pass
        finally:
            # trio-websocket sometimes misses the close reply of a peer that tears the TCP
            # connection down right after it; the shim is done by then, so bound the wait.
            with trio.move_on_after(CLOSE_BOUND_S, shield=True):
                await ws.aclose()

    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, None)
        sidecar = ScriptedSidecar(f"http://127.0.0.1:{server.port}", served)
        yield sidecar
        nursery.cancel_scope.cancel()
