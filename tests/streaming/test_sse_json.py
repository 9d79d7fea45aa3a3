"""iter_sse_json_batches: the trio-safe channel of parsed events over an async byte stream,
one list per network read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio

from pipe_service.openrouter.sse import SSEProtocolError, iter_sse_json_batches


async def byte_stream(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        await trio.lowlevel.checkpoint()
        yield chunk


async def collect(*chunks: bytes, max_event_bytes: int = 1 << 20) -> list[dict[str, Any]]:
    """Every event, in order (the batches flattened)."""
    stream = byte_stream(*chunks)
    with trio.fail_after(5):
        async with iter_sse_json_batches(stream, max_event_bytes=max_event_bytes) as batches:
            return [event async for batch in batches for event in batch]


async def test_yields_parsed_objects_in_order() -> None:
    got = await collect(b': OPENROUTER PROCESSING\n\ndata: {"n":1}\n', b'\ndata: {"n":2}\n\n')
    assert got == [{"n": 1}, {"n": 2}]


async def test_stops_at_done_and_ignores_what_follows() -> None:
    got = await collect(b'data: {"n":1}\n\ndata: [DONE]\n\ndata: {"n":2}\n\n')
    assert got == [{"n": 1}]


async def test_stream_without_done_just_ends() -> None:
    assert await collect(b'data: {"n":1}\n\ndata: {"n"') == [{"n": 1}]


async def test_invalid_json_raises_protocol_error() -> None:
    with pytest.raises(SSEProtocolError, match="invalid JSON"):
        await collect(b'data: {"n":1}\n\ndata: {not json}\n\n')


async def test_oversized_event_raises_protocol_error() -> None:
    with pytest.raises(SSEProtocolError, match="max_event_bytes=16"):
        await collect(b"data: " + b"x" * 64 + b"\n\n", max_event_bytes=16)


async def test_leaving_early_closes_the_source_stream() -> None:
    closed = trio.Event()

    async def endless() -> AsyncIterator[bytes]:
        try:
            while True:
                await trio.lowlevel.checkpoint()
                yield b'data: {"n":1}\n\n'
        finally:
            closed.set()

    with trio.fail_after(5):
        async with iter_sse_json_batches(endless(), max_event_bytes=1024) as batches:
            async for batch in batches:
                assert batch == [{"n": 1}]
                break
        await closed.wait()


async def batches(*chunks: bytes) -> list[list[dict[str, Any]]]:
    with trio.fail_after(5):
        async with iter_sse_json_batches(byte_stream(*chunks), max_event_bytes=1 << 20) as got:
            return [batch async for batch in got]


async def test_batches_hold_the_events_of_one_read() -> None:
    got = await batches(
        b'data: {"n":1}\n\ndata: {"n":2}\n\ndata: {"n',  # two events and a half
        b'":3}\n\n',
        b": keep-alive\n\n",  # a read that completes no event yields nothing
        b'data: {"n":4}\n\ndata: [DONE]\n\ndata: {"n":5}\n\n',
    )
    assert got == [[{"n": 1}, {"n": 2}], [{"n": 3}], [{"n": 4}]]


async def test_batches_deliver_what_precedes_invalid_json_then_raise() -> None:
    got: list[list[dict[str, Any]]] = []

    async def read_all() -> None:
        chunks = byte_stream(b'data: {"n":1}\n\ndata: nope\n\n')
        async with iter_sse_json_batches(chunks, max_event_bytes=1 << 20) as received:
            async for batch in received:
                got.append(batch)

    with trio.fail_after(5), pytest.raises(SSEProtocolError, match="invalid JSON"):
        await read_all()
    assert got == [[{"n": 1}]]
