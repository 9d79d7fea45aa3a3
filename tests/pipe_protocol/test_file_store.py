"""The shim file store on memory channels: ``store_file`` out, ``file_stored`` back by call_id
(the reply matching it shares with the tool executor: ``front/pipe/replies.py``)."""

from __future__ import annotations

import pytest
import trio

from pipe_service.front.pipe.files import FileNotStoredError, ShimFileStore
from pipe_service.protocol import FileStored, ServerFrame, StoredFile, StoreFile

SAVED = StoredFile(id="f1", url="/api/v1/files/f1/content", name="a.png", content_type="image/png")


async def _store_answered_with(file: StoredFile | None, error: str | None) -> StoredFile:
    """Store a file while the shim answers the ``store_file`` frame with ``file``/``error``."""
    send, receive = trio.open_memory_channel[ServerFrame](4)
    store = ShimFileStore(send)

    async def shim() -> None:
        frame = await receive.receive()
        assert isinstance(frame, StoreFile)
        assert (frame.call_id, frame.name, frame.data_b64) == ("file_1", "a.png", "aGk=")
        reply = FileStored(type="file_stored", call_id=frame.call_id, file=file, error=error)
        assert store.deliver(reply)

    with trio.fail_after(1):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(shim)
            return await store.store(name="a.png", content_type="image/png", data_b64="aGk=")


async def test_a_stored_file_comes_back_with_its_open_webui_id() -> None:
    assert await _store_answered_with(SAVED, None) == SAVED


async def test_a_file_the_shim_could_not_save_fails_with_its_reason() -> None:
    with pytest.RaisesGroup(pytest.RaisesExc(FileNotStoredError, match="^disk full$")):
        await _store_answered_with(None, "disk full")


async def test_a_connection_that_ends_while_waiting_fails_the_store() -> None:
    send, receive = trio.open_memory_channel[ServerFrame](4)
    store = ShimFileStore(send)

    async def store_one() -> None:
        with pytest.raises(FileNotStoredError, match="went away before saving"):
            await store.store(name="a.png", content_type="image/png", data_b64="aGk=")

    with trio.fail_after(1):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(store_one)
            await receive.receive()
            store.close()
    with pytest.raises(FileNotStoredError, match="connection is closed"):
        await store.store(name="b.png", content_type="image/png", data_b64="aGk=")


async def test_a_reply_for_no_waiting_store_is_ignored() -> None:
    send, _receive = trio.open_memory_channel[ServerFrame](4)
    store = ShimFileStore(send)
    assert not store.deliver(FileStored(type="file_stored", call_id="file_9", file=SAVED))
