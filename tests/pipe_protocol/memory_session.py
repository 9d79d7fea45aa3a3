"""A :class:`PipeSession` on memory streams: the shim protocol without sockets or a sidecar.

trio-websocket runs on both ends of a ``trio.testing.memory_stream_pair``; the sidecar's end is
handed to ``PipeSession`` through the three calls it makes, and the gateway behind it is the
real one (catalog, sessions, admission) over a scripted upstream (``tests.tools.fakes``). With
``autojump_clock`` every timeout in the session runs on virtual time.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import trio
import trio.testing
import trio_websocket

from pipe_service.admission.byte_budget import ByteBudget
from pipe_service.admission.gate import AdmissionGate, AdmissionLimits
from pipe_service.catalog.actor import Catalog
from pipe_service.catalog.filters import CatalogFilterOptions
from pipe_service.catalog.registry import ModelRegistry
from pipe_service.chat.gateway import ChatGateway, StreamingOptions
from pipe_service.front.pipe.session import PipeSession
from pipe_service.openrouter.client import OpenRouterClient
from pipe_service.sessions import actor as sessions_actor
from pipe_service.sessions.actor import Sessions, ShutdownPolicy
from pipe_service.transform.options import TransformOptions

MODEL_ROW = {
    "id": "acme/chat",
    "name": "Acme: Chat",
    "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
    "supported_parameters": ["tools", "tool_choice", "temperature"],
    "pricing": {"prompt": "0.000001", "completion": "0.000002"},
    "context_length": 8000,
}


class SidecarEnd:
    """trio-websocket's connection as the ``FrameSocket`` a session talks to.

    A shim that goes away cancels the session, as quart-trio does when hypercorn reports the
    disconnect (the session never sees a "closed" error from ``receive``).
    """

    def __init__(
        self, connection: trio_websocket.WebSocketConnection, session_scope: trio.CancelScope
    ) -> None:
        self._connection = connection
        self._session_scope = session_scope

    async def receive(self) -> str | bytes | None:
        try:
            return await self._connection.get_message()
        except trio_websocket.ConnectionClosed:
            self._session_scope.cancel()
            await trio.sleep_forever()
            raise AssertionError("unreachable") from None

    async def send(self, data: str | bytes) -> None:
        await self._connection.send_message(data)

    async def close(self, code: int) -> None:
        await self._connection.aclose(code)


@dataclass
class ShimEnd:
    """The shim's side: send frames as dicts, read frames as dicts, see the close code."""

    connection: trio_websocket.WebSocketConnection

    async def send(self, frame: dict[str, Any]) -> None:
        await self.connection.send_message(json.dumps(frame))

    async def receive(self) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(await self.connection.get_message())
        return decoded

    async def until_closed(self) -> tuple[list[dict[str, Any]], int | None]:
        frames: list[dict[str, Any]] = []
        while True:
            try:
                frames.append(await self.receive())
            except trio_websocket.ConnectionClosed as closed:
                return frames, closed.reason.code if closed.reason else None


def make_gateway(upstream: object, sessions: Sessions) -> ChatGateway:
    catalog = Catalog(CatalogFilterOptions())
    catalog.install(ModelRegistry.from_payload({"data": [MODEL_ROW]}, CatalogFilterOptions()))
    return ChatGateway(
        catalog=catalog,
        sessions=sessions,
        admission=AdmissionGate(AdmissionLimits(slots=4, queue=4)),
        client=cast(OpenRouterClient, upstream),
        options=TransformOptions(),
        streaming=StreamingOptions(flush_interval_s=0),
    )


@asynccontextmanager
async def open_memory_session(
    upstream: object,
    *,
    handshake_timeout_s: float = 10.0,
    send_stall_s: float = 15.0,
    shutdown: ShutdownPolicy | None = None,
) -> AsyncIterator[tuple[ShimEnd, ChatGateway]]:
    """Run one session on a memory stream pair; yields the shim's end and the gateway.

    ``shutdown``: how the sessions actor cuts live turns when the sidecar stops.
    """
    sidecar_stream, shim_stream = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        sessions: Sessions = await nursery.start(sessions_actor.run, Sessions(shutdown))
        gateway = make_gateway(upstream, sessions)

        async def serve() -> None:
            request = await trio_websocket.wrap_server_stream(nursery, sidecar_stream)
            connection = await request.accept()
            session_scope = trio.CancelScope()
            session = PipeSession(
                SidecarEnd(connection, session_scope),
                gateway,
                outbox_size=8,
                send_stall_s=send_stall_s,
                handshake_timeout_s=handshake_timeout_s,
                byte_budget=ByteBudget(64 * 1024 * 1024),
                busy_retry_after_s=2,
            )
            with session_scope:
                await session.run()

        nursery.start_soon(serve)
        connection = await trio_websocket.wrap_client_stream(
            nursery, shim_stream, "sidecar", "/v1/pipe"
        )
        yield ShimEnd(connection), gateway
        nursery.cancel_scope.cancel()
