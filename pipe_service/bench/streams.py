"""One measured stream per path: straight to the simulator, or through the sidecar.

Each function sends one streaming request and returns a :class:`StreamSample`: when the first
piece of answer text arrived, when the stream ended, how many text events carried it, and the
text itself (so the runner can check the sidecar relayed exactly what the simulator sent).
Errors are values here: a failed stream is a sample with ``error`` set, never an exception.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Final

import httpx
import trio

from pipe_service.bench.plan import MODEL, PROMPT

BENCH_API_KEY: Final = "sk-or-bench"
_RESPONSES_DELTA: Final = b'data: {"type":"response.output_text.delta"'
_DATA: Final = b"data: "
_DONE: Final = b"data: [DONE]"


@dataclass(frozen=True, slots=True)
class StreamSample:
    """What one client saw. Times are seconds from just before the request was sent."""

    first_text_s: float | None
    total_s: float | None
    text_events: int
    text: str
    error: str | None = None
    max_gap_s: float | None = None
    """The longest wait between two text events of the stream (None: fewer than two)."""

    @property
    def ok(self) -> bool:
        return self.error is None


async def responses_stream(client: httpx.AsyncClient) -> StreamSample:
    """``POST /responses`` on the simulator; text events are ``response.output_text.delta``."""
    body = {"model": MODEL, "input": PROMPT, "stream": True}
    headers = {"Authorization": f"Bearer {BENCH_API_KEY}"}
    return await _measure(client, "/responses", body, headers, _responses_text)


async def chat_completions_stream(client: httpx.AsyncClient) -> StreamSample:
    """``POST /v1/chat/completions`` on the sidecar; text events are chunks with content."""
    body = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}], "stream": True}
    return await _measure(client, "/v1/chat/completions", body, {}, _chat_text)


async def owui_chat_stream(client: httpx.AsyncClient, model: str) -> StreamSample:
    """``POST /api/chat/completions`` on Open WebUI (the API path: no chat is saved); the
    client carries the credentials. Text events are chunks with content, as from the sidecar."""
    body = {"model": model, "messages": [{"role": "user", "content": PROMPT}], "stream": True}
    return await _measure(client, "/api/chat/completions", body, {}, _chat_text)


def _chat_text(line: bytes) -> str | None:
    if not line.startswith(_DATA) or line.startswith(_DONE):
        return None
    chunk: dict[str, Any] = json.loads(line[len(_DATA) :])
    choices = chunk.get("choices") or [{}]
    content: str | None = (choices[0].get("delta") or {}).get("content")
    return content or None


async def sidecar_responses_stream(client: httpx.AsyncClient) -> StreamSample:
    """``POST /v1/responses`` on the sidecar: the OpenAI Responses front, same text events."""
    body = {"model": MODEL, "input": PROMPT, "stream": True}
    return await _measure(client, "/v1/responses", body, {}, _responses_text)


def _responses_text(line: bytes) -> str | None:
    # Wire key order puts "type" first, so a prefix test skips parsing other events.
    if not line.startswith(_RESPONSES_DELTA):
        return None
    delta: str = json.loads(line[len(_DATA) :])["delta"]
    return delta


async def _measure(
    client: httpx.AsyncClient,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    text_of: Callable[[bytes], str | None],
) -> StreamSample:
    started = trio.current_time()
    first_text: float | None = None
    last_text = 0.0
    max_gap: float | None = None
    events = 0
    parts: list[str] = []
    # Error boundary of one stream: any failure becomes a sample, so one bad stream does not
    # abort the batch (and overload shows up as an error count).
    try:
        async with client.stream("POST", url, json=body, headers=headers) as response:
            if response.status_code != httpx.codes.OK:
                await response.aread()
                return _failed(f"HTTP {response.status_code}", events, parts)
            async for line in _lines(response):
                text = text_of(line)
                if text is None:
                    continue
                now = trio.current_time() - started
                if first_text is None:
                    first_text = now
                else:
                    max_gap = max(max_gap or 0.0, now - last_text)
                last_text = now
                events += 1
                parts.append(text)
    except (httpx.HTTPError, json.JSONDecodeError, KeyError, TypeError) as exc:
        return _failed(type(exc).__name__, events, parts)
    if first_text is None:
        return _failed("no text", events, parts)
    total = trio.current_time() - started
    return StreamSample(first_text, total, events, "".join(parts), max_gap_s=max_gap)


def _failed(error: str, events: int, parts: list[str]) -> StreamSample:
    return StreamSample(None, None, events, "".join(parts), error)


async def _lines(response: httpx.Response) -> AsyncIterator[bytes]:
    """Split the raw body on newlines (cheaper than ``aiter_lines``' decoding)."""
    pending = b""
    async for chunk in response.aiter_bytes():
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            if line:
                yield line
    if pending:
        yield pending
