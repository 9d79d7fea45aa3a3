"""``pipe-service chat "prompt"``: one chat through the sidecar, speaking the shim protocol.

It does what the Open WebUI shim does, over the same Unix socket and frames (``hello`` →
``welcome`` → ``request`` → ``delta``/``reasoning``/``event`` … → ``done``/``error``/``busy``),
and prints the answer as it streams: reasoning dimmed, status lines in brackets, then the usage
line. A quick end-to-end check for operators (is the key good, does the model answer).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import trio
import trio_websocket

from pipe_service import __version__
from pipe_service.protocol import PROTOCOL_VERSION

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
CONNECT_LIMIT_S = 10.0
CHAT_LIMIT_S = 600.0


@dataclass
class ChatOutcome:
    """How the chat ended: ``done``, ``error`` or ``busy``, and what was printed."""

    kind: str = "ended"
    answer: str = ""
    reasoning: str = ""
    usage_line: str | None = None
    message: str | None = None
    frames: list[dict[str, Any]] = field(default_factory=list)


def request_frame(
    model: str, prompt: str, *, user_id: str, show_timing: bool, reasoning: bool
) -> dict[str, Any]:
    user_valves: dict[str, Any] = {"SHOW_FINAL_USAGE_STATUS": True}
    if show_timing:
        user_valves["SHOW_PHASE_TIMING"] = True
    if reasoning:
        user_valves["ENABLE_REASONING"] = True
    return {
        "type": "request",
        "model": model,
        "body": {"messages": [{"role": "user", "content": prompt}]},
        "stream": True,
        "user": {"id": user_id, "name": "pipe-service chat"},
        "user_valves": user_valves,
        "metadata": {"chat_id": "cli-chat", "message_id": "cli-message"},
    }


async def run_chat(
    socket_path: Path,
    request: dict[str, Any],
    out: TextIO,
    *,
    color: bool,
    waiting: AbstractContextManager[object] | None = None,
) -> ChatOutcome:
    """Send ``request`` and print the answer to ``out`` as it streams.

    ``waiting`` (e.g. a rich spinner) is shown from the request until the first frame that
    prints something: reasoning models can think for a minute before the first token.
    """
    outcome = ChatOutcome()
    with trio.fail_after(CONNECT_LIMIT_S):
        stream = await trio.open_unix_socket(str(socket_path))
    try:
        async with trio.open_nursery() as nursery:
            with trio.fail_after(CONNECT_LIMIT_S):
                connection = await trio_websocket.wrap_client_stream(
                    nursery, stream, "sidecar", "/v1/pipe", max_message_size=MAX_MESSAGE_BYTES
                )
            try:
                with trio.fail_after(CHAT_LIMIT_S), ExitStack() as spinner:
                    if waiting is not None:
                        spinner.enter_context(waiting)
                    await _converse(
                        connection, request, out, outcome, color=color, first_output=spinner.close
                    )
            finally:
                with trio.move_on_after(2, shield=True):
                    await connection.aclose()
                nursery.cancel_scope.cancel()
    finally:
        with trio.move_on_after(2, shield=True):
            await stream.aclose()
    return outcome


async def _converse(
    connection: trio_websocket.WebSocketConnection,
    request: dict[str, Any],
    out: TextIO,
    outcome: ChatOutcome,
    *,
    color: bool,
    first_output: Callable[[], None],
) -> None:
    hello = {"type": "hello", "protocols": [PROTOCOL_VERSION], "shim_version": f"cli-{__version__}"}
    await connection.send_message(json.dumps(hello))
    welcome = json.loads(await connection.get_message())
    if welcome.get("type") != "welcome":
        outcome.kind, outcome.message = "error", str(welcome.get("message", welcome))
        return
    await connection.send_message(json.dumps(request))
    in_reasoning = False
    while True:
        try:
            frame = json.loads(await connection.get_message())
        except trio_websocket.ConnectionClosed:
            return
        outcome.frames.append(frame)
        kind = frame.get("type")
        if kind in ("reasoning", "delta", "done", "error", "busy"):
            first_output()  # stop the spinner before the first line is printed
        if kind == "reasoning":
            if not in_reasoning:
                out.write(_dim("Thinking: ", color))
                in_reasoning = True
            outcome.reasoning += frame["text"]
            out.write(_dim(frame["text"], color))
        elif kind == "delta":
            if in_reasoning:
                out.write("\n\n")
                in_reasoning = False
            outcome.answer += frame["text"]
            out.write(frame["text"])
        elif kind == "event":
            data = frame.get("event", {}).get("data", {})
            if frame.get("event", {}).get("type") == "status" and data.get("done"):
                out.write(_dim(f"\n[{data.get('description', '')}]\n", color))
        elif kind == "tool_call":
            # No tools offered; answer so the turn can go on rather than wait for a timeout.
            reply = {"type": "tool_result", "call_id": frame["call_id"], "error": "no tools here"}
            await connection.send_message(json.dumps(reply))
        elif kind in ("done", "error", "busy"):
            outcome.kind = kind
            outcome.usage_line = frame.get("usage_line")
            outcome.message = frame.get("message")
            if kind == "done":
                if outcome.usage_line:
                    out.write(_dim(f"\n\n{outcome.usage_line}\n", color))
                else:
                    out.write("\n")
            else:
                out.write(f"\n{frame.get('message', kind)}\n")
        out.flush()


def _dim(text: str, color: bool) -> str:
    return f"\x1b[2m{text}\x1b[0m" if color else text
