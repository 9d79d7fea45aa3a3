"""Open WebUI's side of the shim, for tests: load the real file, call it, record what it does.

The shim is asyncio (aiohttp) like Open WebUI; the sidecar fixtures are trio. Each shim call
runs in a worker thread with its own ``asyncio.run`` (:func:`run_shim`), while the sidecar keeps
serving on the test's trio loop.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import threading
import types
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import trio

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIM_PATH = REPO_ROOT / "pipe_service" / "shim" / "openrouter_pipe.py"
FUNCTION_ID = "openrouter_pipe"
SHIM_CALL_LIMIT_S = 30.0

T = TypeVar("T")


def load_shim() -> types.ModuleType:
    """Load the shim as Open WebUI 0.12.4 does: exec its source into a fresh module."""
    source = SHIM_PATH.read_text(encoding="utf-8")
    name = f"function_{FUNCTION_ID}_{uuid.uuid4().hex}"
    module = types.ModuleType(name)
    module.__dict__["__file__"] = str(SHIM_PATH)
    sys.modules[name] = module
    exec(compile(source, str(SHIM_PATH), "exec"), module.__dict__)
    return module


def owui_model_id(shim: types.ModuleType, slug: str) -> str:
    """The id Open WebUI gives a manifold model: ``<function_id>.<sub_id>``."""
    return f"{FUNCTION_ID}.{shim.slug_to_owui_id(slug)}"


@dataclass
class OwuiSide:
    """Fake ``__event_emitter__`` / ``__event_call__`` plus the other injected parameters."""

    events: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    call_replies: list[Any] = field(default_factory=list)
    tools: dict[str, Any] = field(default_factory=dict)
    user: dict[str, Any] = field(
        default_factory=lambda: {
            "id": "user-1",
            "email": "ada@example.com",
            "name": "Ada",
            "role": "user",
            "username": "ada",
        }
    )
    metadata: dict[str, Any] = field(
        default_factory=lambda: {
            "chat_id": "chat-1",
            "message_id": "msg-1",
            "session_id": "sid-1",
            "user_id": "user-1",
        }
    )

    async def emit(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    async def call(self, event: dict[str, Any]) -> Any:
        self.calls.append(event)
        return self.call_replies.pop(0) if self.call_replies else None

    def events_of(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event.get("type") == kind]

    async def invoke(
        self, pipe: Any, body: dict[str, Any], *, task: str | None = None, **extra: Any
    ) -> Any:
        """Call ``pipe.pipe`` with Open WebUI's injected parameters; a stream is drained."""
        result = await pipe.pipe(
            body,
            __user__=self.user,
            __request__=extra.get("request"),
            __event_emitter__=self.emit,
            __event_call__=self.call,
            __metadata__={**self.metadata, "task": task},
            __tools__=self.tools,
            __files__=extra.get("files", []),
            __task__=task,
            __task_body__=None,
            __chat_id__=self.metadata.get("chat_id"),
            __message_id__=self.metadata.get("message_id"),
        )
        if inspect.isasyncgen(result):
            return [item async for item in result]
        return result


def chat_body(
    shim: types.ModuleType, slug: str, text: str = "hello there", *, stream: bool = True
) -> dict[str, Any]:
    return {
        "model": owui_model_id(shim, slug),
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }


def streamed_text(items: list[Any]) -> str:
    return "".join(item for item in items if isinstance(item, str))


def reasoning_text(items: list[Any]) -> str:
    return "".join(
        item["choices"][0]["delta"]["reasoning_content"]
        for item in items
        if isinstance(item, dict) and "reasoning_content" in item["choices"][0]["delta"]
    )


async def run_shim(fn: Callable[[], Awaitable[T]]) -> T:
    """Run ``fn()`` on a fresh asyncio loop in a worker thread (the test's loop stays trio)."""
    with trio.fail_after(SHIM_CALL_LIMIT_S):
        return await trio.to_thread.run_sync(
            lambda: asyncio.run(_in_loop(fn)), abandon_on_cancel=True
        )


async def _in_loop(fn: Callable[[], Awaitable[T]]) -> T:
    return await fn()


class CancellableShimCall:
    """A shim call in a worker thread that the trio side can cancel (the stop button)."""

    def __init__(self, fn: Callable[[], Awaitable[Any]]) -> None:
        self._fn = fn
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._ready = threading.Event()
        self.cancelled = False

    async def run(self) -> Any:
        with trio.fail_after(SHIM_CALL_LIMIT_S):
            return await trio.to_thread.run_sync(
                lambda: asyncio.run(self._main()), abandon_on_cancel=True
            )

    async def _main(self) -> Any:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.ensure_future(self._fn())
        self._ready.set()
        try:
            return await self._task
        except asyncio.CancelledError:
            self.cancelled = True
            return None

    def cancel(self) -> None:
        """Cancel the consumer task as Open WebUI's stop does (thread-safe)."""
        if not self._ready.wait(SHIM_CALL_LIMIT_S):
            raise AssertionError("the shim call never started")
        assert self._loop is not None
        assert self._task is not None
        self._loop.call_soon_threadsafe(self._task.cancel)
