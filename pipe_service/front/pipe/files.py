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

from pipe_service.front.pipe.replies import ConnectionEndedError, ShimReplies
from pipe_service.protocol import FileStored, ServerFrame, StoredFile, StoreFile
from pipe_service.sessions.outbox import OutboxSender


class FileNotStoredError(Exception):
    """The shim could not save the file (its reason), or the connection ended first."""


class ShimFileStore:
    """Files saved by the shim for one connection. Owns ``outbox`` (a clone) until :meth:`close`."""

    def __init__(self, outbox: OutboxSender[ServerFrame]) -> None:
        self._replies = ShimReplies[FileStored](outbox)
        self._ids = itertools.count(1)

    async def store(self, *, name: str, content_type: str, data_b64: str) -> StoredFile:
        """Ask the shim to save the file; its Open WebUI id and URL, or FileNotStoredError."""
        call_id = f"file_{next(self._ids)}"
        frame = StoreFile(call_id=call_id, name=name, content_type=content_type, data_b64=data_b64)
        try:
            reply = await self._replies.ask(call_id, frame)
        except ConnectionEndedError as ended:
            if ended.sent:
                raise FileNotStoredError("the shim went away before saving the file") from None
            raise FileNotStoredError("the shim connection is closed") from None
        if reply.file is None:
            raise FileNotStoredError(reply.error or "the shim did not say why")
        return reply.file

    def deliver(self, reply: FileStored) -> bool:
        """Hand a ``file_stored`` frame to its waiting call; False when none waits."""
        return self._replies.deliver(reply.call_id, reply)

    def close(self) -> None:
        """Fail every waiting store and refuse new ones (idempotent)."""
        self._replies.close()
