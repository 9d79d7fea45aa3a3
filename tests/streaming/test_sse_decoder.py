"""SSEDecoder: framing edge cases, limits and split-anywhere property tests.

Every test feeds bytes exactly as a socket could deliver them and checks the decoded events; the
property tests assert that where the stream is split never changes what is decoded.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipe_service.openrouter.sse import SSEDecoder, SSEEvent, SSEProtocolError, parse_event_json


def decode(*chunks: bytes, max_event_bytes: int = 1 << 20) -> list[SSEEvent]:
    decoder = SSEDecoder(max_event_bytes=max_event_bytes)
    events: list[SSEEvent] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    return events + decoder.close()


def datas(events: list[SSEEvent]) -> list[str]:
    return [event.data for event in events]


def test_single_data_event() -> None:
    assert datas(decode(b'data: {"a":1}\n\n')) == ['{"a":1}']


def test_comment_lines_are_skipped_and_counted() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b": OPENROUTER PROCESSING\n\n: \n\n:\n\ndata: x\n\n")
    assert datas(events) == ["x"]
    assert decoder.statistics().comments == 3


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
def test_each_line_ending_style(newline: bytes) -> None:
    stream = b"data: one" + newline + newline + b"data: two" + newline + newline
    assert datas(decode(stream)) == ["one", "two"]


def test_mixed_line_endings_in_one_stream() -> None:
    assert datas(decode(b"data: a\r\n\ndata: b\r\rdata: c\n\r\n")) == ["a", "b", "c"]


def test_crlf_split_between_chunks_is_one_line_end() -> None:
    # If the LF after a chunk-final CR were a second line end, "b" would be dispatched early
    # as its own event instead of joined with "c".
    assert datas(decode(b"data: a\r", b"\ndata: b\r", b"\ndata: c\r\n\r\n")) == ["a\nb\nc"]


def test_multiple_data_lines_join_with_newline() -> None:
    assert datas(decode(b"data: first\ndata: second\ndata:\n\n")) == ["first\nsecond\n"]


def test_only_one_leading_space_is_stripped() -> None:
    assert datas(decode(b"data:  two spaces\ndata:none\n\n")) == [" two spaces\nnone"]


def test_event_id_and_retry_fields_are_kept() -> None:
    [event] = decode(b"event: response.created\nid: 7\nretry: 1500\ndata: {}\n\n")
    assert (event.event, event.id, event.retry) == ("response.created", "7", 1500)


def test_last_event_id_persists_but_event_type_and_retry_reset() -> None:
    first, second = decode(b"event: e\nid: 7\nretry: 10\ndata: a\n\ndata: b\n\n")
    assert (first.event, first.retry) == ("e", 10)
    assert (second.event, second.id, second.retry) == (None, "7", None)


def test_non_numeric_retry_and_id_with_nul_are_ignored() -> None:
    [event] = decode(b"retry: 1s\nid: a\x00b\ndata: x\n\n")
    assert (event.retry, event.id) == (None, None)


def test_unknown_fields_and_field_only_events_are_ignored() -> None:
    assert datas(decode(b"foo: bar\n\nevent: only-a-type\n\nbaz\ndata: x\n\n")) == ["x"]


def test_done_sentinel_is_flagged() -> None:
    events = decode(b'data: {"type":"x"}\n\ndata: [DONE]\n\n')
    assert [event.is_done for event in events] == [False, True]


def test_leading_bom_is_skipped_even_when_split() -> None:
    assert datas(decode(b"\xef", b"\xbb", b"\xbfdata: x\n\n")) == ["x"]


def test_bom_is_only_special_at_stream_start() -> None:
    assert datas(decode(b"data: a\n\n\xef\xbb\xbfdata: b\n\n")) == ["a"]


def test_multibyte_utf8_split_across_chunks() -> None:
    encoded = "data: héllo 😀 世界\n\n".encode()
    chunks = [encoded[i : i + 1] for i in range(len(encoded))]
    assert datas(decode(*chunks)) == ["héllo 😀 世界"]


def test_invalid_utf8_becomes_replacement_character() -> None:
    assert datas(decode(b"data: a\xffb\n\n")) == ["a\ufffdb"]


def test_json_surrogate_pair_escape_decodes_to_emoji() -> None:
    [event] = decode(b'data: {"delta":"\\ud83d', b'\\ude00"}\n\n')
    assert parse_event_json(event) == {"delta": "😀"}


def test_unterminated_final_event_is_dropped_and_reported() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"data: complete\n\ndata: partial")
    assert datas(events + decoder.close()) == ["complete"]
    assert decoder.truncated


def test_clean_end_is_not_truncated() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: a\n\n: keep-alive\n\n")
    decoder.close()
    assert not decoder.truncated


def test_feed_after_close_is_an_error() -> None:
    decoder = SSEDecoder()
    decoder.close()
    with pytest.raises(RuntimeError, match="after close"):
        decoder.feed(b"data: x\n\n")


def test_oversized_unterminated_line_raises() -> None:
    decoder = SSEDecoder(max_event_bytes=64)
    decoder.feed(b"data: " + b"x" * 50)
    with pytest.raises(SSEProtocolError, match="max_event_bytes=64"):
        decoder.feed(b"x" * 50)


def test_oversized_multi_line_event_raises() -> None:
    decoder = SSEDecoder(max_event_bytes=64)
    with pytest.raises(SSEProtocolError, match="max_event_bytes"):
        decoder.feed(b"data: 0123456789\n" * 10)


def test_event_at_the_size_limit_is_accepted() -> None:
    line = b"data: " + b"x" * 57 + b"\n"  # 64 bytes with its line end
    assert datas(decode(line + b"\n", max_event_bytes=64)) == ["x" * 57]


def test_comments_do_not_count_toward_the_event_limit() -> None:
    keep_alives = b": OPENROUTER PROCESSING\n" * 20
    assert datas(decode(keep_alives + b"data: x\n\n", max_event_bytes=32)) == ["x"]


def test_invalid_json_error_quotes_a_short_excerpt() -> None:
    event = SSEEvent(data="{" + "x" * 10_000)
    with pytest.raises(SSEProtocolError, match="invalid JSON") as info:
        parse_event_json(event)
    assert len(str(info.value)) < 300


def test_non_object_json_is_a_protocol_error() -> None:
    with pytest.raises(SSEProtocolError, match="not a JSON object"):
        SSEEvent(data="[1, 2]").json()


# -- properties -------------------------------------------------------------------------------

_field_text = st.text(
    st.characters(exclude_characters="\r\n", exclude_categories=["Cs"]), max_size=40
)
_data_lines = st.lists(_field_text, min_size=1, max_size=3)
_event_type = st.none() | _field_text.filter(lambda s: s != "" and not s.startswith(" "))
_newline = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def event_streams(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    events = draw(st.lists(st.tuples(_event_type, _data_lines), max_size=6))
    newline = draw(_newline)
    parts: list[str] = []
    if draw(st.booleans()):
        parts.append("\ufeff")
    for event_type, data_lines in events:
        if draw(st.booleans()):
            parts.append(": OPENROUTER PROCESSING" + newline)
        if event_type is not None:
            parts.append(f"event: {event_type}{newline}")
        parts.extend(f"data: {line}{newline}" for line in data_lines)
        parts.append(newline)
    return "".join(parts).encode(), ["\n".join(data_lines) for _, data_lines in events]


@given(event_streams(), st.data())
def test_split_anywhere_decodes_like_unsplit(
    stream: tuple[bytes, list[str]], data: st.DataObject
) -> None:
    encoded, expected = stream
    cuts = sorted(data.draw(st.lists(st.integers(0, len(encoded)), max_size=12)))
    chunks = [encoded[a:b] for a, b in zip([0, *cuts], [*cuts, len(encoded)], strict=True)]
    assert decode(*chunks) == decode(encoded)
    assert datas(decode(*chunks)) == expected


@given(st.text(), st.data())
def test_arbitrary_unicode_round_trips_through_json(text: str, data: st.DataObject) -> None:
    # json.dumps escapes lone surrogates and astral characters as \\uXXXX pairs by default.
    encoded = f"data: {json.dumps({'delta': text})}\n\n".encode()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(encoded)), max_size=8)))
    chunks = [encoded[a:b] for a, b in zip([0, *cuts], [*cuts, len(encoded)], strict=True)]
    [event] = decode(*chunks)
    assert event.json() == {"delta": text}


@given(st.text(st.characters(exclude_categories=["Cs"])), st.data())
def test_raw_utf8_text_round_trips_split_anywhere(text: str, data: st.DataObject) -> None:
    payload = json.dumps({"delta": text}, ensure_ascii=False)
    encoded = f"data: {payload}\n\n".encode()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(encoded)), max_size=8)))
    chunks = [encoded[a:b] for a, b in zip([0, *cuts], [*cuts, len(encoded)], strict=True)]
    [event] = decode(*chunks)
    assert event.json() == {"delta": text}
