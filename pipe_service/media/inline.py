"""Inline payloads (``data:`` URLs and bare base64) validated before they are decoded.

The order matters: the header is parsed and the decoded size is *estimated from the text
length* first, so an oversized payload is refused without allocating its decoded bytes; then
the alphabet and padding are checked, the text is decoded strictly, and the first bytes are
sniffed so a "PNG" that is really a PDF (or nothing at all) is refused too.

Synopsis::

    try:
        payload = parse_data_url(url, max_bytes=20 << 20, kind="image")
    except InlinePayloadError as exc:
        notes.append(f"image dropped: {exc.message}")
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "InlinePayload",
    "InlinePayloadError",
    "MediaKind",
    "decoded_size_estimate",
    "inspect_bytes",
    "parse_base64",
    "parse_data_url",
    "sniff_mime",
]

MediaKind = Literal["image", "audio", "video", "file"]

MAX_HEADER_CHARS: Final = 256
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")

# (prefix at offset, MIME); checked in order.
_SIGNATURES: Final[tuple[tuple[int, bytes, str], ...]] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"OggS", "audio/ogg"),
    (0, b"fLaC", "audio/flac"),
    (0, b"\x1aE\xdf\xa3", "video/webm"),
    (0, b"PK\x03\x04", "application/zip"),
)
_EQUIVALENT: Final = {
    "image/jpg": "image/jpeg",
    "audio/mp3": "audio/mpeg",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "video/quicktime": "video/mp4",
}


@dataclass(frozen=True, slots=True)
class InlinePayload:
    mime: str
    data: bytes

    def base64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")

    def data_url(self) -> str:
        return f"data:{self.mime};base64,{self.base64()}"


class InlinePayloadError(Exception):
    """An inline payload refused; ``reason`` is ``too_large``, ``malformed`` or ``wrong_type``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def decoded_size_estimate(text_length: int) -> int:
    """An upper bound of the bytes ``text_length`` characters of base64 decode to."""
    return (text_length * 3 + 3) // 4


def sniff_mime(data: bytes) -> str | None:
    """The MIME type the first bytes of ``data`` announce, or ``None`` when unknown."""
    for offset, signature, mime in _SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1"):
            return "image/heic"
        if brand.startswith(b"avif"):
            return "image/avif"
        if brand.startswith(b"M4A"):
            return "audio/mp4"
        return "video/mp4"
    if len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:
        return "audio/mpeg"  # an MPEG audio frame without an ID3 tag
    head = data[:512].lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head):
        return "image/svg+xml"
    return None


def parse_data_url(text: str, *, max_bytes: int, kind: MediaKind | None = None) -> InlinePayload:
    """Validate and decode a ``data:<mime>;base64,<data>`` URL.

    Raises :class:`InlinePayloadError`; never decodes more than ``max_bytes``.
    """
    if not text[:5].lower() == "data:":
        raise InlinePayloadError("malformed", "not a data: URL")
    comma = text.find(",", 0, MAX_HEADER_CHARS + 6)
    if comma < 0:
        raise InlinePayloadError("malformed", "data: URL without a ',' after a short header")
    header = text[5:comma].lower().split(";")
    declared = header[0].strip() or "text/plain"
    if not _MEDIA_TYPE.match(declared):
        raise InlinePayloadError("malformed", "data: URL with an invalid media type")
    if "base64" not in (param.strip() for param in header[1:]):
        raise InlinePayloadError("malformed", "data: URL is not base64-encoded")
    # Refuse an oversized payload before slicing it out (a copy of the whole text).
    _check_estimate(len(text) - comma - 1, max_bytes)
    return parse_base64(text[comma + 1 :], max_bytes=max_bytes, declared_mime=declared, kind=kind)


def parse_base64(
    text: str,
    *,
    max_bytes: int,
    declared_mime: str | None = None,
    kind: MediaKind | None = None,
) -> InlinePayload:
    """Validate and decode bare base64 (optionally with a declared MIME type)."""
    _check_estimate(len(text), max_bytes)
    if not text:
        raise InlinePayloadError("malformed", "empty payload")
    if len(text) % 4:
        raise InlinePayloadError("malformed", "not valid base64 (length or padding)")
    try:
        # validate=True refuses any character outside the alphabet and misplaced padding.
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InlinePayloadError("malformed", "not valid base64 (alphabet or padding)") from None
    if len(data) > max_bytes:
        raise InlinePayloadError(
            "too_large", f"{_megabytes(len(data))} decoded, over {_megabytes(max_bytes)}"
        )
    mime = _checked_mime(data, declared_mime, kind)
    return InlinePayload(mime=mime, data=data)


def inspect_bytes(
    data: bytes,
    *,
    max_bytes: int,
    declared_mime: str | None = None,
    kind: MediaKind | None = None,
) -> InlinePayload:
    """The same size and type checks for bytes that are already decoded (a download)."""
    if len(data) > max_bytes:
        raise InlinePayloadError(
            "too_large", f"{_megabytes(len(data))}, over {_megabytes(max_bytes)}"
        )
    return InlinePayload(mime=_checked_mime(data, declared_mime, kind), data=data)


def _check_estimate(text_length: int, max_bytes: int) -> None:
    estimate = decoded_size_estimate(text_length)
    if estimate > max_bytes + 2:  # +2: the estimate counts padding as data
        raise InlinePayloadError(
            "too_large", f"about {_megabytes(estimate)} decoded, over {_megabytes(max_bytes)}"
        )


def _checked_mime(data: bytes, declared: str | None, kind: MediaKind | None) -> str:
    sniffed = sniff_mime(data)
    declared = _EQUIVALENT.get(declared or "", declared)
    if kind in ("image", "audio", "video"):
        # An mp4 container may hold audio only; otherwise the bytes must say the kind.
        if sniffed is not None and (
            sniffed.startswith(f"{kind}/") or (kind == "audio" and sniffed == "video/mp4")
        ):
            return sniffed
        found = sniffed or "unrecognised bytes"
        raise InlinePayloadError("wrong_type", f"expected {kind} data, found {found}")
    if declared == "application/pdf" and sniffed != "application/pdf":
        raise InlinePayloadError("wrong_type", "declared a PDF, but the bytes are not a PDF")
    if declared is not None and declared not in ("text/plain", "application/octet-stream"):
        return declared
    return sniffed or declared or "application/octet-stream"


def _megabytes(size: int) -> str:
    return f"{size / 1_048_576:.1f} MB"
