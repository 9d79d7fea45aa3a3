"""In-memory doubles for the tool loop: a scripted upstream and scripted executors.

:class:`ScriptedUpstream` stands in for ``OpenRouterClient`` at the level ``run_turn`` uses it:
each call to ``stream_responses`` (or ``create_response``) takes the next script — a list of
Responses events, replayed as SSE bytes — or raises the script's ``UpstreamError``. Every
payload it was sent is kept, so tests can read what the loop appended to ``input``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, cast

import trio

from pipe_service.chat.turn import run_turn
from pipe_service.chat.turn_request import TurnOutput, TurnRequest
from pipe_service.openrouter.client import OpenRouterClient
from pipe_service.openrouter.errors import UpstreamError
from pipe_service.tools.contract import ToolInvocation, ToolOutcome
from pipe_service.tools.runner import ToolRunner

Script = list[dict[str, Any]] | UpstreamError

USAGE = {
    "input_tokens": 100,
    "input_tokens_details": {"cached_tokens": 10},
    "output_tokens": 20,
    "output_tokens_details": {"reasoning_tokens": 5},
    "cost": 0.5,
}


class _Stream:
    def __init__(self, events: list[dict[str, Any]]) -> None:
        chunks = [
            f"data: {json.dumps({**e, 'sequence_number': n})}\n\n" for n, e in enumerate(events)
        ]
        self._chunks = [chunk.encode() for chunk in chunks] + [b"data: [DONE]\n\n"]

    def aiter_bytes(self) -> AsyncIterator[bytes]:
        return _Chunks(self._chunks)


class _Chunks:
    """A plain async iterator (no generator to finalise when the reader stops early)."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = iter(chunks)

    def __aiter__(self) -> _Chunks:
        return self

    async def __anext__(self) -> bytes:
        await trio.lowlevel.checkpoint()
        try:
            return next(self._chunks)
        except StopIteration:
            raise StopAsyncIteration from None


class ScriptedUpstream:
    """Replays one script per upstream call, in order."""

    def __init__(self, *scripts: Script) -> None:
        self._scripts = list(scripts)
        self.payloads: list[dict[str, Any]] = []

    def _next(self, payload: Mapping[str, Any]) -> list[dict[str, Any]]:
        self.payloads.append(json.loads(json.dumps(payload)))
        if not self._scripts:
            raise AssertionError("the loop called upstream more often than scripted")
        script = self._scripts.pop(0)
        if isinstance(script, UpstreamError):
            raise script
        return script

    @asynccontextmanager
    async def stream_responses(
        self,
        payload: Mapping[str, Any],
        *,
        api_key: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[_Stream]:
        yield _Stream(self._next(payload))

    async def create_response(
        self,
        payload: Mapping[str, Any],
        *,
        api_key: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        events = self._next(payload)
        terminal = events[-1]
        assert terminal["type"] == "response.completed"
        response: dict[str, Any] = terminal["response"]
        return response


# -- scripts -------------------------------------------------------------------------------


def _response(status: str, output: list[dict[str, Any]], usage: Any) -> dict[str, Any]:
    return {
        "id": "gen-1",
        "object": "response",
        "model": "acme/full",
        "status": status,
        "output": output,
        "usage": usage,
        "error": None,
        "incomplete_details": None,
    }


def call_item(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {
        "id": f"fc_{call_id}",
        "type": "function_call",
        "status": "completed",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def reasoning_item(item_id: str, text: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "reasoning",
        "status": "completed",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": text}],
        "signature": "c2ln",
        "format": "anthropic-claude-v1",
    }


def message_item(item_id: str, text: str, annotations: list[Any] | None = None) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": annotations or []}],
    }


def run_script(
    *items: dict[str, Any], usage: Any = USAGE, status: str = "completed"
) -> list[dict[str, Any]]:
    """A stream that finishes ``items`` in order (text streamed as a delta) and completes."""
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": _response("in_progress", [], None)}
    ]
    for index, item in enumerate(items):
        events.append({"type": "response.output_item.added", "output_index": index, "item": item})
        if item["type"] == "message":
            text = item["content"][0]["text"]
            events.append(
                {
                    "type": "response.output_text.delta",
                    "output_index": index,
                    "item_id": item["id"],
                    "content_index": 0,
                    "delta": text,
                }
            )
        if item["type"] == "reasoning":
            events.append(
                {
                    "type": "response.reasoning_text.delta",
                    "output_index": index,
                    "item_id": item["id"],
                    "content_index": 0,
                    "delta": item["content"][0]["text"],
                }
            )
        events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    terminal = "response.completed" if status == "completed" else "response.incomplete"
    events.append({"type": terminal, "response": _response(status, list(items), usage)})
    return events


def calls_script(*calls: tuple[str, str, str], reasoning: str | None = None) -> list[Any]:
    """A run asking for ``(call_id, name, arguments)`` calls, optionally after reasoning."""
    items = [call_item(*call) for call in calls]
    if reasoning is not None:
        items.insert(0, reasoning_item(f"rs_{calls[0][0]}", reasoning))
    return run_script(*items)


def text_script(text: str, item_id: str = "msg_final") -> list[dict[str, Any]]:
    return run_script(message_item(item_id, text))


# -- executors -------------------------------------------------------------------------------

Behaviour = Callable[[ToolInvocation], Awaitable[ToolOutcome]]


class RecordingExecutor:
    """Runs ``behaviour`` for every call and records (start time, invocation)."""

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self._behaviour = behaviour or echo
        self.started: list[tuple[float, ToolInvocation]] = []
        self.finished: list[tuple[float, str]] = []

    @property
    def invocations(self) -> list[ToolInvocation]:
        return [invocation for _, invocation in self.started]

    async def execute(self, invocation: ToolInvocation) -> ToolOutcome:
        self.started.append((trio.current_time(), invocation))
        outcome = await self._behaviour(invocation)
        self.finished.append((trio.current_time(), invocation.call_id))
        return outcome


async def echo(invocation: ToolInvocation) -> ToolOutcome:
    return ToolOutcome(invocation.call_id, output=f"{invocation.name}:{invocation.arguments_json}")


def sleeping(seconds: float) -> Behaviour:
    async def behaviour(invocation: ToolInvocation) -> ToolOutcome:
        await trio.sleep(seconds)
        return await echo(invocation)

    return behaviour


async def hang(invocation: ToolInvocation) -> ToolOutcome:
    await trio.sleep_forever()
    raise AssertionError("unreachable")


async def fail(invocation: ToolInvocation) -> ToolOutcome:
    return ToolOutcome(invocation.call_id, error="boom")


# -- running a turn --------------------------------------------------------------------------


async def collect_turn(
    request: TurnRequest, upstream: ScriptedUpstream, runner: ToolRunner | None
) -> list[TurnOutput]:
    """Run ``run_turn`` against the scripted upstream; return everything it wrote."""
    send, receive = trio.open_memory_channel[TurnOutput](1000)
    client = cast("OpenRouterClient", upstream)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_run, request, client, send, runner)
        async with receive:
            return [item async for item in receive]


async def _run(
    request: TurnRequest,
    client: OpenRouterClient,
    send: trio.MemorySendChannel[TurnOutput],
    runner: ToolRunner | None,
) -> None:
    await run_turn(request, client, send, tool_runner=runner)
