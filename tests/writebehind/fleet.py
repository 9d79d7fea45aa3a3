"""Sidecar processes (``python -m pipe_service serve``) of one fleet: own var dirs, one shared
PostgreSQL and Redis, the fleet's encryption key; started, SIGKILLed and restarted by tests.
Also the chat and replay helpers the fleet tests share."""

from __future__ import annotations

import json
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import trio

from pipe_service.persistence.markers import find_markers
from tests.one_chunk_http import uds_transport
from tests.process.test_serve_process import ServeProcess, _env

FLEET_KEY = "the fleet's shared artifact secret"
MODEL = "sim/encrypted-reasoning"


@dataclass
class Chat:
    question: str
    answer: str
    markers: list[str]


class FleetSidecar:
    def __init__(self, var_dir: Path, **env: str) -> None:
        self.var_dir = var_dir
        var_dir.mkdir(parents=True, exist_ok=True)
        self.env = env
        self.current: ServeProcess | None = None
        self.starts = 0

    async def start(self) -> None:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "pipe_service", "serve"],
            env=_env(self.var_dir, PIPE_SERVICE_PERSISTENCE__ENCRYPTION_KEY=FLEET_KEY, **self.env),
            stderr=-1,
            stdout=-1,
        )
        self.current = ServeProcess(process, self.var_dir)
        self.starts += 1
        with trio.fail_after(60):
            await self.current.wait_for_log("serving on")

    async def kill(self) -> None:
        assert self.current is not None
        self.current.process.send_signal(signal.SIGKILL)
        with trio.move_on_after(10, shield=True):
            await self.current.process.wait()
        self.current = None

    async def stop(self) -> None:
        if self.current is None:
            return
        process = self.current.process
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        with trio.move_on_after(20, shield=True):
            await process.wait()
        if process.returncode is None:
            process.kill()
            with trio.move_on_after(10, shield=True):
                await process.wait()
        self.current = None

    @property
    def up(self) -> bool:
        return self.current is not None

    def client(self) -> httpx.AsyncClient:
        transport = uds_transport(str(self.var_dir / "pipe-service.sock"))
        return httpx.AsyncClient(transport=transport, base_url="http://sidecar", timeout=30)

    async def status(self) -> dict[str, Any]:
        async with self.client() as client:
            reply = await client.get("/status")
        reply.raise_for_status()
        data: dict[str, Any] = reply.json()
        return data


async def ask(sidecar: FleetSidecar, question: str) -> Chat | None:
    """One chat turn; None when it did not complete (the sidecar was killed under it)."""
    body = {"model": MODEL, "stream": False, "messages": [{"role": "user", "content": question}]}
    try:
        async with sidecar.client() as client:
            reply = await client.post("/v1/chat/completions", json=body)
    except httpx.HTTPError:
        return None
    if reply.status_code != 200:
        return None
    answer = reply.json()["choices"][0]["message"]["content"]
    return Chat(question, answer, find_markers(answer))


async def replayed_reasoning(sidecar: FleetSidecar, chats: list[Chat]) -> list[int]:
    """Send each chat back as history with a follow-up (concurrently); return, per chat, how
    many reasoning items the sidecar replayed upstream, read from its simulator's request log
    (matched by the chat's unique question)."""
    # The built-in simulator listens on a private socket in the sidecar's var dir.
    transport = uds_transport(str(sidecar.var_dir / "simulator.sock"))

    async def follow_up(chat: Chat) -> None:
        body = {
            "model": MODEL,
            "stream": False,
            "messages": [
                {"role": "user", "content": chat.question},
                {"role": "assistant", "content": chat.answer},
                {"role": "user", "content": "and then?"},
            ],
        }
        async with sidecar.client() as client:
            reply = await client.post("/v1/chat/completions", json=body)
        reply.raise_for_status()

    async with httpx.AsyncClient(
        transport=transport, base_url="http://simulator", timeout=30
    ) as simulator:
        await simulator.delete("/_sim/requests")
        async with trio.open_nursery() as nursery:
            for chat in chats:
                nursery.start_soon(follow_up, chat)
        records = (await simulator.get("/_sim/requests")).json()["data"]
    counts = []
    for chat in chats:
        needle = json.dumps(chat.question)
        [record] = [r for r in records if needle in json.dumps(r["body"]["input"])]
        counts.append(sum(1 for item in record["body"]["input"] if item.get("type") == "reasoning"))
    return counts
