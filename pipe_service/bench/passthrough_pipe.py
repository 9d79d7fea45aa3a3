"""
title: Passthrough (pipe-service bench)
author: pipe-service
version: 0.1.0
license: MIT
description: A trivial streaming pipe straight to an OpenAI Responses API (the bench's baseline).
required_open_webui_version: 0.12.4
"""

# The smallest honest pipe ``pipe-service bench --owui`` compares the shim with: one aiohttp
# request per chat to ``BASE_URL/responses`` (streaming), each ``response.output_text.delta``
# yielded to Open WebUI as it arrives. No catalog, no tools, no storage; Open WebUI runs it in its
# own event loop exactly as it runs the shim. Installed by the bench as Function ``passthrough``.

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp
from pydantic import BaseModel

_DATA = b"data: "
_DONE = b"data: [DONE]"
_DELTA = "response.output_text.delta"


class Pipe:
    class Valves(BaseModel):
        BASE_URL: str = "http://127.0.0.1:8000/api/v1"
        API_KEY: str = ""
        MODEL: str = "sim/text"

    def __init__(self) -> None:
        self.valves = self.Valves()

    async def pipe(self, body: dict[str, Any]) -> AsyncGenerator[str, None]:
        request = {
            "model": self.valves.MODEL,
            "input": [
                {"role": message["role"], "content": message["content"]}
                for message in body.get("messages", [])
                if isinstance(message.get("content"), str)
            ],
            "stream": True,
        }
        headers = {"Authorization": f"Bearer {self.valves.API_KEY}"}
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{self.valves.BASE_URL}/responses", json=request, headers=headers
            ) as reply,
        ):
            reply.raise_for_status()
            async for line in reply.content:
                if not line.startswith(_DATA) or line.startswith(_DONE):
                    continue
                event = json.loads(line[len(_DATA) :])
                if event.get("type") == _DELTA:
                    yield event["delta"]
