"""Inline payloads: size estimated before decoding, strict base64, sniffed MIME; fuzzed."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipe_service.media.inline import (
    InlinePayload,
    InlinePayloadError,
    decoded_size_estimate,
    parse_base64,
    parse_data_url,
    sniff_mime,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 16
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb" + b"\x00" * 8


def _outcome(text: str, *, max_bytes: int, kind: str | None) -> InlinePayload | InlinePayloadError:
    """The payload, or the refusal as a value (so fuzz tests can assert on either)."""
    try:
        return parse_data_url(text, max_bytes=max_bytes, kind=kind)  # type: ignore[arg-type]
    except InlinePayloadError as exc:
        return exc


def _data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def test_a_png_data_url_decodes_with_its_sniffed_type() -> None:
    payload = parse_data_url(_data_url("image/png", PNG), max_bytes=1024, kind="image")
    assert (payload.mime, payload.data) == ("image/png", PNG)
    assert payload.data_url() == _data_url("image/png", PNG)


def test_an_oversized_payload_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def never_decode(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("decoded an oversized payload")

    monkeypatch.setattr(base64, "b64decode", never_decode)
    with pytest.raises(InlinePayloadError) as refused:
        parse_data_url("data:image/png;base64," + "A" * 4000, max_bytes=1000, kind="image")
    assert refused.value.reason == "too_large"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://example.com/a.png", "malformed"),
        ("data:image/png;base64", "malformed"),
        ("data:image/png," + "AAAA", "malformed"),
        ("data:not a type;base64,AAAA", "malformed"),
        ("data:image/png;base64,AAA", "malformed"),
        ("data:image/png;base64,AA==AA==", "malformed"),
        ("data:image/png;base64,AA AA", "malformed"),
        ("data:image/png;base64,", "malformed"),
        ("data:image/png;base64,QUFBQQ==", "wrong_type"),
        (_data_url("image/png", PDF), "wrong_type"),
        (_data_url("application/pdf", PNG), "wrong_type"),
    ],
)
def test_malformed_or_mislabelled_payloads_are_refused(url: str, reason: str) -> None:
    kind = "image" if url.startswith("data:image") else None
    with pytest.raises(InlinePayloadError) as refused:
        parse_data_url(url, max_bytes=1 << 20, kind=kind)
    assert refused.value.reason == reason


def test_the_bytes_decide_the_type_of_an_image_labelled_wrongly() -> None:
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 16
    assert parse_data_url(_data_url("image/png", jpeg), max_bytes=1024, kind="image").mime == (
        "image/jpeg"
    )


@pytest.mark.parametrize(("data", "mime"), [(WAV, "audio/wav"), (MP3, "audio/mpeg")])
def test_audio_is_recognised_by_its_bytes(data: bytes, mime: str) -> None:
    encoded = base64.b64encode(data).decode()
    assert parse_base64(encoded, max_bytes=1024, kind="audio").mime == mime


def test_a_file_keeps_its_declared_type_when_the_bytes_do_not_contradict_it() -> None:
    csv = b"a,b\n1,2\n"
    assert parse_data_url(_data_url("text/csv", csv), max_bytes=1024).mime == "text/csv"
    assert parse_data_url(_data_url("application/pdf", PDF), max_bytes=1024).mime == (
        "application/pdf"
    )


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (PNG, "image/png"),
        (b"GIF89a....", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\x00\x00\x00\x18ftypmp42", "video/mp4"),
        (b"\x1aE\xdf\xa3\x01", "video/webm"),
        (PDF, "application/pdf"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
        (b"plain words", None),
    ],
)
def test_sniffing_reads_magic_numbers(data: bytes, mime: str | None) -> None:
    assert sniff_mime(data) == mime


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_text_is_either_a_payload_or_a_clear_refusal(text: str) -> None:
    for candidate in (text, "data:" + text, "data:image/png;base64," + text):
        outcome = _outcome(candidate, max_bytes=256, kind="image")
        if isinstance(outcome, InlinePayloadError):
            assert outcome.reason in {"too_large", "malformed", "wrong_type"}
        else:
            assert len(outcome.data) <= 256


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=600),
    st.sampled_from(["image/png", "application/pdf", "text/plain", "audio/wav"]),
    st.sampled_from([None, "image", "audio", "file"]),
)
def test_decoded_payloads_never_exceed_the_cap(data: bytes, mime: str, kind: str | None) -> None:
    outcome = _outcome(_data_url(mime, data), max_bytes=300, kind=kind)
    if isinstance(outcome, InlinePayloadError):
        assert outcome.reason in {"too_large", "malformed", "wrong_type"}
        if outcome.reason == "too_large":
            assert len(data) > 300
    else:
        assert outcome.data == data
        assert len(data) <= 300


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_a_valid_image_round_trips(tail: bytes) -> None:
    data = PNG + tail
    payload = parse_data_url(_data_url("image/png", data), max_bytes=1024, kind="image")
    assert payload.data == data
    assert parse_data_url(payload.data_url(), max_bytes=1024, kind="image") == payload


@given(st.integers(min_value=0, max_value=10**9))
def test_the_size_estimate_is_an_upper_bound(length: int) -> None:
    encoded_length = 4 * ((length + 2) // 3)
    assert decoded_size_estimate(encoded_length) >= length
