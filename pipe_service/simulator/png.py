"""A tiny, valid PNG encoder for the image-generation simulator (no imaging library needed).

Synopsis::

    data = solid_png(8, 8, (200, 30, 30))   # bytes starting with b"\\x89PNG\\r\\n\\x1a\\n"
"""

from __future__ import annotations

import hashlib
import struct
import zlib

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def solid_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """An 8-bit RGB PNG of one colour."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    row = b"\x00" + bytes(rgb) * width  # filter type 0, then the pixels
    pixels = zlib.compress(row * height, 9)
    return _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")


def png_for_prompt(prompt: str, size: int = 16) -> bytes:
    """A deterministic picture of ``prompt``: the same prompt always draws the same colour."""
    digest = hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).digest()
    return solid_png(size, size, (digest[0], digest[1], digest[2]))
