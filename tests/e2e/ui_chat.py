"""The test's end of a UI-style chat: run ``socket_chat.py`` in the Open WebUI venv, read its lines.

A reader thread turns the child's JSON lines into a queue so every wait here is bounded by a
deadline (the e2e suite talks to real processes, so waits are real time, never unbounded).
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).with_name("socket_chat.py")

Event = dict[str, Any]


class UiChat:
    """One running ``socket_chat.py``; use as a context manager so the child never outlives it."""

    def __init__(self, python: Path, url: str, token: str, model: str, content: str, **extra: str):
        command = [str(python), str(SCRIPT), "--url", url, "--token", token]
        command += ["--model", model, "--content", content]
        for name, value in extra.items():
            command += [f"--{name.replace('_', '-')}", value]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.records: list[Event] = []
        self._lines: queue.Queue[Event | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def __enter__(self) -> UiChat:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self.process.stdout.close()
        self.process.stderr.close()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("{"):
                self._lines.put(json.loads(line))
        self._lines.put(None)

    def wait_for(self, predicate: Callable[[Event], bool], limit_s: float) -> Event:
        """The first record (already seen or new) matching ``predicate``, within ``limit_s``."""
        for record in self.records:
            if predicate(record):
                return record
        deadline = time.monotonic() + limit_s
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                record = self._lines.get(timeout=remaining)
            except queue.Empty:
                break
            if record is None:
                raise AssertionError(f"socket_chat.py exited early: {self._failure()}")
            self.records.append(record)
            if predicate(record):
                return record
        raise AssertionError(f"no matching record within {limit_s} s; seen: {self.records[-5:]}")

    def started(self, limit_s: float = 30) -> dict[str, Any]:
        """The ``/api/chat/completions`` reply (``task_ids``, ``chat_id``); fails on HTTP errors."""
        record = self.wait_for(lambda r: r["kind"] == "started", limit_s)
        assert record["status"] == 200, record
        body: dict[str, Any] = record["body"]
        return body

    def finished(self, limit_s: float = 60) -> list[Event]:
        """Wait for the end of the chat; the socket events' ``data`` (``{"type", "data"}``)."""
        end = self.wait_for(lambda r: r["kind"] == "end", limit_s)
        assert end["reason"] == "inactive", end
        return self.events()

    def events(self) -> list[Event]:
        return [r["payload"]["data"] for r in self.records if r["kind"] == "event"]

    def events_of(self, event_type: str) -> list[Any]:
        return [event.get("data") for event in self.events() if event.get("type") == event_type]

    def _failure(self) -> str:
        self.process.wait(timeout=10)
        assert self.process.stderr is not None
        return f"exit {self.process.returncode}: {self.process.stderr.read()[-2000:]}"
