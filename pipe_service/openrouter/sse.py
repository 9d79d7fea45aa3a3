"""Incremental Server-Sent Events decoder for OpenRouter streams.

The decoder follows the WHATWG "event stream interpretation" rules and is fed raw bytes as they
arrive from the network, split at arbitrary positions:

* line endings may be CRLF, CR or LF, and a CRLF may be split between two chunks;
* lines are decoded as UTF-8 only once complete, so a multi-byte character split across chunks is
  never mangled (invalid bytes become U+FFFD, as the SSE standard requires);
* a UTF-8 BOM at the very start of the stream is skipped;
* comment lines (``:`` prefix, e.g. OpenRouter's ``: OPENROUTER PROCESSING`` keep-alives) are
  skipped and counted;
* several ``data:`` lines in one event are joined with ``\\n``; ``event:``, ``id:`` and ``retry:``
  are kept even though OpenRouter sends only ``data:``;
* ``data: [DONE]`` is surfaced as ``SSEEvent.is_done``;
* one event (its field lines plus any unfinished line) may not exceed ``max_event_bytes``; a
  larger one raises :class:`SSEProtocolError` instead of growing memory without bound.

End of stream: as the standard says, an event that is not terminated by a blank line when the
stream ends is **dropped**, not dispatched. A truncated stream is a transport failure; the chat
translator reports it as "stream ended without completion". ``SSEDecoder.truncated`` tells the
caller (for logs) that bytes were discarded.

Synopsis::

    async with iter_sse_json_batches(response.aiter_bytes(), max_event_bytes=MAX) as batches:
        async for batch in batches:  # lists of dicts, one per network read; stops at [DONE]
            ...
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, AsyncIterable
from dataclasses import dataclass
from typing import Any, Final

import trio

DEFAULT_MAX_EVENT_BYTES: Final = 16 * 1024 * 1024
DONE_SENTINEL: Final = "[DONE]"
# How much of a bad payload an error message may quote: enough to debug, never the whole body.
ERROR_EXCERPT_CHARS: Final = 120
# Bound on closing the source byte stream once iteration stops.
SOURCE_CLOSE_GRACE_S: Final = 5.0

_UTF8_BOM: Final = b"\xef\xbb\xbf"
_LINE_END = re.compile(rb"\r\n|\r|\n")


class SSEProtocolError(Exception):
    """The byte stream is not a usable event stream (oversized event, invalid JSON, …)."""


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event.

    ``event`` is ``None`` when no ``event:`` field was sent (the standard's "message");
    ``id`` is the stream's last event id at dispatch time (it persists across events);
    ``retry`` is the reconnection time sent with this event, if any.
    """

    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None

    @property
    def is_done(self) -> bool:
        """True for OpenRouter's ``data: [DONE]`` terminator."""
        return self.data == DONE_SENTINEL

    def json(self) -> dict[str, Any]:
        """The data parsed as a JSON object (see :func:`parse_event_json`)."""
        return parse_event_json(self)


@dataclass(frozen=True, slots=True)
class SSEDecoderStatistics:
    """Counters of one decoder, for logs and metrics."""

    events: int
    comments: int
    bytes_fed: int


class SSEDecoder:
    """Turn a byte stream, fed in arbitrary chunks, into :class:`SSEEvent` values.

    Synopsis::

        decoder = SSEDecoder(max_event_bytes=1 << 20)
        for chunk in chunks:
            for event in decoder.feed(chunk):
                handle(event)
        decoder.close()
    """

    def __init__(self, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        if max_event_bytes <= 0:
            raise ValueError("max_event_bytes must be positive")
        self._max_event_bytes = max_event_bytes
        self._buffer = bytearray()
        self._bom_checked = False
        # A chunk ended in CR: an LF at the start of the next chunk belongs to the same CRLF.
        self._skip_leading_lf = False
        self._closed = False
        self.truncated = False
        # The event being assembled.
        self._data_lines: list[str] = []
        self._has_data = False
        self._event_type: str | None = None
        self._retry: int | None = None
        self._event_bytes = 0
        # Persists across events, per the standard.
        self._last_event_id: str | None = None
        self._events = 0
        self._comments = 0
        self._bytes_fed = 0

    def statistics(self) -> SSEDecoderStatistics:
        """Counters so far."""
        return SSEDecoderStatistics(self._events, self._comments, self._bytes_fed)

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Consume ``chunk``; return the events it completed, in order.

        Raises :class:`SSEProtocolError` when an event grows past ``max_event_bytes``.
        """
        if self._closed:
            raise RuntimeError("SSEDecoder.feed() after close()")
        self._bytes_fed += len(chunk)
        self._buffer += chunk
        if not self._bom_checked:
            if len(self._buffer) < len(_UTF8_BOM) and _UTF8_BOM.startswith(self._buffer):
                return []  # could still be a BOM split across chunks
            if self._buffer.startswith(_UTF8_BOM):
                del self._buffer[: len(_UTF8_BOM)]
            self._bom_checked = True
        if self._skip_leading_lf and self._buffer:
            if self._buffer[0] == 0x0A:
                del self._buffer[0]
            self._skip_leading_lf = False

        events: list[SSEEvent] = []
        position = 0
        buffer = self._buffer
        while True:
            match = _LINE_END.search(buffer, position)
            if match is None:
                break
            line = bytes(buffer[position : match.start()])
            position = match.end()
            if match.group() == b"\r" and position == len(buffer):
                self._skip_leading_lf = True
            event = self._process_line(line)
            if event is not None:
                events.append(event)
        del buffer[:position]
        if self._event_bytes + len(buffer) > self._max_event_bytes:
            self._raise_oversize()
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: drop any unterminated event (see the module docstring).

        Returns the events still to dispatch, which is always none under the standard's rules;
        the list keeps the call symmetric with :meth:`feed`. Idempotent.
        """
        if not self._closed:
            self._closed = True
            self.truncated = bool(self._buffer) or self._has_data or self._event_type is not None
            self._buffer.clear()
            self._reset_event()
        return []

    def _process_line(self, raw: bytes) -> SSEEvent | None:
        if not raw:
            return self._dispatch()
        if raw[0] == 0x3A:  # ":" comment / keep-alive
            self._comments += 1
            return None
        self._event_bytes += len(raw) + 1
        if self._event_bytes > self._max_event_bytes:
            self._raise_oversize()
        line = raw.decode("utf-8", errors="replace")
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data_lines.append(value)
            self._has_data = True
        elif name == "event":
            self._event_type = value
        elif name == "id":
            if "\0" not in value:
                self._last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        # Any other field name is ignored, per the standard.
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._has_data:
            # The standard discards field-only events (no data line).
            self._reset_event()
            return None
        event = SSEEvent(
            data="\n".join(self._data_lines),
            event=self._event_type or None,
            id=self._last_event_id,
            retry=self._retry,
        )
        self._reset_event()
        self._events += 1
        return event

    def _reset_event(self) -> None:
        self._data_lines = []
        self._has_data = False
        self._event_type = None
        self._retry = None
        self._event_bytes = 0

    def _raise_oversize(self) -> None:
        limit = self._max_event_bytes
        self._closed = True
        self._buffer.clear()
        self._reset_event()
        raise SSEProtocolError(f"SSE event exceeds max_event_bytes={limit}")


def excerpt(text: str, limit: int = ERROR_EXCERPT_CHARS) -> str:
    """A short, single-line excerpt of ``text`` for error messages (never the whole payload)."""
    flat = text.replace("\n", "\\n")
    return flat if len(flat) <= limit else flat[:limit] + f"… ({len(text)} chars)"


def parse_event_json(event: SSEEvent) -> dict[str, Any]:
    """Parse an event's data as a JSON object, or raise :class:`SSEProtocolError`."""
    try:
        value = json.loads(event.data)
    except json.JSONDecodeError as exc:
        raise SSEProtocolError(
            f"invalid JSON in SSE event ({exc.msg} at char {exc.pos}): {excerpt(event.data)!r}"
        ) from None
    if not isinstance(value, dict):
        raise SSEProtocolError(f"SSE event is not a JSON object: {excerpt(event.data)!r}")
    return value


@trio.as_safe_channel
async def iter_sse_json_batches(
    byte_stream: AsyncIterable[bytes], *, max_event_bytes: int
) -> AsyncGenerator[list[dict[str, Any]], None]:
    """Yield the events of ``byte_stream`` as JSON objects, one list per network read (the
    events that read completed), stopping at ``data: [DONE]``.

    Use as ``async with iter_sse_json_batches(stream, max_event_bytes=N) as batches: async for
    batch in batches``. A read that completes no event yields nothing; the relay takes a burst
    of events in one hop instead of one hop each. A stream that ends without ``[DONE]`` simply
    ends (the translator decides whether a terminal event was seen). Raises
    :class:`SSEProtocolError` on oversized events and on event data that is not a JSON object
    (after yielding the events before it).
    """
    decoder = SSEDecoder(max_event_bytes=max_event_bytes)
    chunks = aiter(byte_stream)
    try:
        async for chunk in chunks:
            batch: list[dict[str, Any]] = []
            done = False
            try:
                for event in decoder.feed(chunk):
                    if event.is_done:
                        done = True
                        break
                    batch.append(parse_event_json(event))
            except SSEProtocolError:
                if batch:  # what came before the bad event still goes out, as one by one
                    yield batch
                raise
            if batch:
                yield batch
            if done:
                return
        decoder.close()
    finally:
        # Stopping at [DONE], on an error or on cancellation: close the source generator
        # (e.g. httpx's aiter_bytes) now rather than whenever the garbage collector runs.
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            with trio.move_on_after(SOURCE_CLOSE_GRACE_S, shield=True):
                await aclose()
