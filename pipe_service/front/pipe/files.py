"""Save generated files in Open WebUI through the shim: ``store_file`` out, ``file_stored`` back.

The shim saves the bytes with Open WebUI's own upload handler, owned by the chat's user, and
shows the file in the message (a ``files`` event). The session's relay calls
:meth:`ShimFileStore.store` when the turn produces a :class:`GeneratedImage`; the reader task
hands the matching ``file_stored`` frame to :meth:`ShimFileStore.deliver` (by ``call_id``).

Synopsis::

    store = ShimFileStore(outbox.clone())
    stored = await store.store(name="image-1.png", content_type="image/png", data_b64=data)
    store.close()
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field

import trio

from pipe_service.protocol import FileStored, ServerFrame, StoredFile, StoreFile
from pipe_service.sessions.outbox import OutboxSender

logger = logging.getLogger("pipe_service.front.pipe.files")


class FileNotStoredError(Exception):
    """The shim could not save the file (its reason), or the connection ended first."""


@dataclass
class _PendingStore:
    answered: trio.Event = field(default_factory=trio.Event)
    reply: FileStored | None = None


class ShimFileStore:
    """Files saved by the shim for one connection. Owns ``outbox`` (a clone) until :meth:`close`."""

    def __init__(self, outbox: OutboxSender[ServerFrame]) -> None:
        self._outbox = outbox
        self._pending: dict[str, _PendingStore] = {}
        self._ids = itertools.count(1)
        self._closed = False

    async def store(self, *, name: str, content_type: str, data_b64: str) -> StoredFile:
        """Ask the shim to save the file; its Open WebUI id and URL, or FileNotStoredError."""
        if self._closed:
            raise FileNotStoredError("the shim connection is closed")
        call_id = f"file_{next(self._ids)}"
        pending = _PendingStore()
        self._pending[call_id] = pending
        try:
            frame = StoreFile(
                call_id=call_id, name=name, content_type=content_type, data_b64=data_b64
            )
            try:
                await self._outbox.send(frame)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                raise FileNotStoredError("the shim connection is closed") from None
            await pending.answered.wait()
        finally:
            self._pending.pop(call_id, None)
        reply = pending.reply
        if reply is None:
            raise FileNotStoredError("the shim went away before saving the file")
        if reply.file is None:
            raise FileNotStoredError(reply.error or "the shim did not say why")
        return reply.file

    def deliver(self, reply: FileStored) -> bool:
        """Hand a ``file_stored`` frame to its waiting call; False when none waits."""
        pending = self._pending.get(reply.call_id)
        if pending is None or pending.answered.is_set():
            logger.debug("file_stored for no waiting call", extra={"call_id": reply.call_id})
            return False
        pending.reply = reply
        pending.answered.set()
        return True

    def close(self) -> None:
        """Fail every waiting store and refuse new ones (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._outbox.close()
        for pending in self._pending.values():
            pending.answered.set()
