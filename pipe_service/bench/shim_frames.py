"""``python -m pipe_service.bench.shim_frames``: the shim's own CPU per frame, outside Open WebUI.

A child process plays the sidecar's ``/v1/pipe`` (aiohttp; ``hello`` → ``welcome``, then
``--frames`` ``delta`` frames and ``done``), either as fast as it can (``--burst``: frames queue up
before the shim reads them, as when Open WebUI is busy) or one every ``--pace-ms``. This process
loads a shim file the way Open WebUI does (exec into a fresh module), calls ``Pipe.pipe`` as Open
WebUI would for a streaming chat, drains the generator and reports its own CPU time per frame and
the chunks it yielded. Compare two shim files with ``--shim-file``.

Synopsis::

    python -m pipe_service.bench.shim_frames --burst --frames 20000
    python -m pipe_service.bench.shim_frames --pace-ms 1 --frames 2000 --shim-file old_pipe.py
    python -m pipe_service.bench.shim_frames --frames 1 --chats 500    # the cost of a chat itself
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import socket
import subprocess
import sys
import time
import types
import uuid
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

DEFAULT_SHIM_FILE = Path(__file__).resolve().parent.parent / "shim" / "openrouter_pipe.py"
READY_LIMIT_S = 30.0


async def _serve(port: int, frames: int, pace_s: float) -> None:
    async def pipe(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.receive()  # hello
        await ws.send_str(json.dumps({"type": "welcome", "protocol": 1, "limits": {}}))
        message = await ws.receive()  # request
        if message.type is WSMsgType.TEXT:
            for index in range(frames):
                await ws.send_str(json.dumps({"type": "delta", "text": f"w{index} "}))
                if pace_s:
                    await asyncio.sleep(pace_s)
            await ws.send_str(json.dumps({"type": "done", "finish_reason": "stop"}))
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/v1/pipe", pipe)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


def _load_shim(path: Path) -> types.ModuleType:
    name = f"function_openrouter_{uuid.uuid4().hex}"
    module = types.ModuleType(name)
    module.__dict__["__file__"] = str(path)
    sys.modules[name] = module
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), module.__dict__)
    return module


async def _drain(shim: types.ModuleType, port: int) -> tuple[float, int, int]:
    pipe = shim.Pipe()
    pipe.valves = shim.Pipe.Valves(SIDECAR_ADDRESSES=f"http://127.0.0.1:{port}")
    body = {"model": "openrouter.sim_text", "stream": True, "messages": [{"role": "user"}]}
    started = time.process_time()
    result = await pipe.pipe(body, __user__={"id": "u", "role": "admin"})
    chunks = 0
    chars = 0
    assert inspect.isasyncgen(result)
    async for item in result:
        chunks += 1
        chars += len(item) if isinstance(item, str) else 0
    return time.process_time() - started, chunks, chars


async def _chats(shim: types.ModuleType, port: int, chats: int) -> tuple[float, int, int]:
    total_cpu_s, total_chunks, total_chars = 0.0, 0, 0
    for _ in range(chats):
        cpu_s, chunks, chars = await _drain(shim, port)
        total_cpu_s += cpu_s
        total_chunks += chunks
        total_chars += chars
    return total_cpu_s, total_chunks, total_chars


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipe_service.bench.shim_frames")
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--pace-ms", type=float, default=0.0)
    parser.add_argument("--burst", action="store_true", help="no pacing (the default)")
    parser.add_argument("--chats", type=int, default=1, help="chats one after the other")
    parser.add_argument("--shim-file", type=Path, default=DEFAULT_SHIM_FILE)
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        asyncio.run(_serve(args.serve, args.frames, args.pace_ms / 1000))
        return 0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    command = [sys.executable, "-m", "pipe_service.bench.shim_frames", "--serve", str(port)]
    command += ["--frames", str(args.frames), "--pace-ms", str(args.pace_ms)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != "ready":
            print("the frame server did not start", file=sys.stderr)
            return 1
        cpu_s, chunks, chars = asyncio.run(_chats(_load_shim(args.shim_file), port, args.chats))
    finally:
        server.terminate()
        server.wait(timeout=READY_LIMIT_S)
    result: dict[str, Any] = {
        "shim_file": str(args.shim_file),
        "chats": args.chats,
        "frames": args.frames,
        "pace_ms": args.pace_ms,
        "chunks": chunks,
        "chars": chars,
        "cpu_s": round(cpu_s, 3),
        "cpu_us_per_frame": round(cpu_s * 1e6 / (args.frames * args.chats), 1),
        "cpu_ms_per_chat": round(cpu_s * 1e3 / args.chats, 3),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
