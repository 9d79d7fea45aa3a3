"""What the supervisor process hands a worker: its index, the listening sockets, the upstream.

The handoff travels as one JSON line on the worker's stdin (not argv or the environment, which
other local users may read through ``/proc``), because it may carry the built-in simulator's
private key. The socket file descriptors are inherited (``pass_fds``) and named here.

Synopsis::

    handoff = WorkerHandoff(index=0, count=2, fds=(5, 6), simulator_key="sk-or-sim-…",
                            simulator_socket="/var/pipe/simulator.sock", control_fd=7)
    process = await trio.lowlevel.open_process(argv, stdin=subprocess.PIPE,
                                               pass_fds=(*handoff.fds, 7))
    await process.stdin.send_all(handoff.encode())
    ...
    handoff = WorkerHandoff.decode(sys.stdin.buffer.readline())   # in the worker
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class HandoffError(ValueError):
    """The worker's stdin did not carry a valid handoff (the worker was not started by
    ``pipe-service serve``)."""


@dataclass(frozen=True, slots=True)
class WorkerHandoff:
    """One worker's share of the service; ``index`` counts from 0 up to ``count``."""

    index: int
    count: int
    fds: tuple[int, ...]
    """Listening sockets bound by the supervisor: the Unix socket first, then TCP if enabled."""
    simulator_key: str | None = None
    simulator_socket: str | None = None
    """The built-in simulator the supervisor runs, when it is the upstream."""
    ready_fd: int | None = None
    """A pipe the worker writes one byte to (and closes) once it serves."""
    control_fd: int | None = None
    """The worker's end of its control channel with the supervisor process."""
    live_generation: int = 0
    live: dict[str, Any] = field(default_factory=dict)
    """The live settings in force (``pipe-service set``, reload) and their generation: a
    restarted worker starts with them, not with what the configuration file said at start."""

    @property
    def simulator_path(self) -> Path | None:
        return None if self.simulator_socket is None else Path(self.simulator_socket)

    def encode(self) -> bytes:
        fields = {
            "index": self.index,
            "count": self.count,
            "fds": list(self.fds),
            "simulator_key": self.simulator_key,
            "simulator_socket": self.simulator_socket,
            "ready_fd": self.ready_fd,
            "control_fd": self.control_fd,
            "live_generation": self.live_generation,
            "live": self.live,
        }
        return json.dumps(fields).encode() + b"\n"

    @classmethod
    def decode(cls, line: bytes) -> WorkerHandoff:
        try:
            fields = json.loads(line)
            handoff = cls(
                index=int(fields["index"]),
                count=int(fields["count"]),
                fds=tuple(int(fd) for fd in fields["fds"]),
                simulator_key=fields.get("simulator_key"),
                simulator_socket=fields.get("simulator_socket"),
                ready_fd=fields.get("ready_fd"),
                control_fd=fields.get("control_fd"),
                live_generation=int(fields.get("live_generation", 0)),
                live=dict(fields.get("live") or {}),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise HandoffError(
                "pipe-service worker: no valid handoff on stdin; workers are started by "
                "`pipe-service serve --workers N`, not by hand"
            ) from exc
        if not handoff.fds:
            raise HandoffError("pipe-service worker: the handoff names no listening socket")
        return handoff

    def say_ready(self) -> None:
        """Tell the supervisor process this worker serves (once; later calls do nothing)."""
        if self.ready_fd is None:
            return
        try:
            os.write(self.ready_fd, b"1")
            os.close(self.ready_fd)
        except OSError:
            pass  # the supervisor is gone; the stdin watch stops this worker
