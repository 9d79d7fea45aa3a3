"""The artifact payload codec: JSON → LZ4 (only when smaller) → Fernet (when asked).

Layout of a stored payload::

    plain:      <header byte> <body>         header 0x00: body is JSON, 0x01: body is an LZ4 frame
    encrypted:  Fernet token of the plain layout  (ASCII, always starts with b"gAAAAA")

A reader tells the two apart by the first byte (a Fernet token never starts with 0x00/0x01),
so a row needs no flag to be decoded; the store still records which key encrypted a row
(``key_id``) so ``pipe-service keys rotate`` can find the rows still on an old key.

Nothing here does I/O: the codec is used from the writer's worker threads, and it is also the
envelope of the dead letters and of the encrypted request log archives (one implementation).

Synopsis::

    codec = PayloadCodec(keyring)                 # keyring None: encoding with encrypt=True fails
    blob = codec.encode({"type": "reasoning"}, encrypt=True)
    codec.decode(blob)                            # {'type': 'reasoning'}
"""

from __future__ import annotations

import json
from typing import Any, Final

import lz4.frame
from cryptography.fernet import InvalidToken

from pipe_service.storage.keys import KeyRing

PLAIN_JSON: Final = 0x00
LZ4_JSON: Final = 0x01
MIN_COMPRESS_BYTES: Final = 256  # below this LZ4's frame header outweighs any saving


class ArtifactKeyError(Exception):
    """A payload cannot be decrypted: no key ring, or none of its keys made this token.

    The message says which, and what to configure; it never contains key material.
    """


class ArtifactCorruptError(Exception):
    """A payload decrypted (or was plain) but is not a valid codec envelope."""


class PayloadCodec:
    """Encode and decode artifact payloads with one key ring (or none)."""

    def __init__(self, keyring: KeyRing | None) -> None:
        self.keyring = keyring

    @property
    def current_key_id(self) -> str | None:
        return self.keyring.current_id if self.keyring is not None else None

    def encode(self, value: Any, *, encrypt: bool) -> bytes:
        """``value`` as stored bytes; raises :class:`ArtifactKeyError` when asked to encrypt
        without a key ring."""
        plain = pack(value)
        if not encrypt:
            return plain
        if self.keyring is None:
            raise ArtifactKeyError("cannot encrypt an artifact: no encryption key is configured")
        return self.keyring.encrypt(plain)

    def decode(self, blob: bytes) -> Any:
        """The value stored in ``blob``; raises :class:`ArtifactKeyError` or
        :class:`ArtifactCorruptError`, never returns garbage."""
        return unpack(self.unseal(blob))

    def unseal(self, blob: bytes) -> bytes:
        """``blob`` decrypted when it is a Fernet token, else as it is: the plain layout
        (header byte and body) for a blob this codec wrote. Raises like :meth:`decode`."""
        if not blob:
            raise ArtifactCorruptError("empty payload")
        if blob[0] in (PLAIN_JSON, LZ4_JSON):
            return blob
        if self.keyring is None:
            raise ArtifactKeyError(
                "this artifact is encrypted but no encryption key is configured: set "
                "persistence.encryption_key (or restore <var_dir>/artifact-keys)"
            )
        try:
            return self.keyring.decrypt(blob)
        except InvalidToken:
            raise ArtifactKeyError(
                "this artifact was encrypted with a key that is not in the key ring: add the "
                "old key to persistence.previous_keys (sidecars sharing one database must all "
                "be given the same persistence.encryption_key)"
            ) from None


def pack(value: Any) -> bytes:
    """JSON, LZ4-compressed when that is smaller, behind its one header byte."""
    body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8", "surrogatepass"
    )
    if len(body) >= MIN_COMPRESS_BYTES:
        compressed: bytes = lz4.frame.compress(body)
        if len(compressed) < len(body):
            return bytes([LZ4_JSON]) + compressed
    return bytes([PLAIN_JSON]) + body


def unpack(blob: bytes) -> Any:
    header, body = blob[0], blob[1:]
    try:
        if header == LZ4_JSON:
            body = lz4.frame.decompress(body)
        elif header != PLAIN_JSON:
            raise ArtifactCorruptError(f"unknown payload header byte 0x{header:02x}")
        return json.loads(body.decode("utf-8", "surrogatepass"))
    except (RuntimeError, ValueError) as exc:  # lz4 raises RuntimeError on a bad frame
        raise ArtifactCorruptError(f"payload does not decode: {type(exc).__name__}") from None
