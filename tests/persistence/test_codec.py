"""The payload codec and key ring: round trips, compression only when it helps, clear errors
for wrong or missing keys, and key files created with mode 0600."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from pipe_service.storage.codec import (
    LZ4_JSON,
    PLAIN_JSON,
    ArtifactCorruptError,
    ArtifactKeyError,
    PayloadCodec,
)
from pipe_service.storage.keys import (
    KeyConfigError,
    KeyRing,
    collect_secrets,
    key_file_path,
    new_salt,
    prepend_new_key,
    read_key_file,
)

SALT = bytes(range(16))
REASONING = {
    "type": "reasoning",
    "id": "rs_1",
    "summary": [],
    "encrypted_content": "gAAAAB" + "x" * 600,
}


def codec(*secrets: str, salt: bytes = SALT) -> PayloadCodec:
    return PayloadCodec(KeyRing.derive(list(secrets), salt=salt))


def test_encrypted_round_trip_returns_the_item() -> None:
    blob = codec("k1").encode(REASONING, encrypt=True)
    assert blob.startswith(b"gAAAAA")
    assert b"encrypted_content" not in blob
    assert codec("k1").decode(blob) == REASONING


def test_large_repetitive_payloads_are_compressed_and_small_ones_are_not() -> None:
    plain = PayloadCodec(None)
    assert plain.encode(REASONING, encrypt=False)[0] == LZ4_JSON
    small = {"type": "function_call_output", "call_id": "c", "output": "42"}
    assert plain.encode(small, encrypt=False)[0] == PLAIN_JSON
    assert plain.decode(plain.encode(REASONING, encrypt=False)) == REASONING


def test_incompressible_payloads_stay_uncompressed() -> None:
    noise = {"output": os.urandom(600).hex()}
    blob = PayloadCodec(None).encode(noise, encrypt=False)
    # LZ4 has no entropy coding: random hex does not shrink, so the frame is not kept.
    assert blob[0] == PLAIN_JSON
    assert PayloadCodec(None).decode(blob) == noise


def test_a_wrong_key_is_a_clear_error_not_garbage() -> None:
    blob = codec("right").encode(REASONING, encrypt=True)
    with pytest.raises(ArtifactKeyError, match="previous_keys"):
        codec("wrong").decode(blob)


def test_a_missing_key_is_a_clear_error() -> None:
    blob = codec("right").encode(REASONING, encrypt=True)
    with pytest.raises(ArtifactKeyError, match="no encryption key is configured"):
        PayloadCodec(None).decode(blob)
    with pytest.raises(ArtifactKeyError):
        PayloadCodec(None).encode(REASONING, encrypt=True)


def test_the_same_secret_with_another_salt_is_another_key() -> None:
    blob = codec("k1", salt=SALT).encode(REASONING, encrypt=True)
    with pytest.raises(ArtifactKeyError):
        codec("k1", salt=new_salt()).decode(blob)


def test_a_key_ring_encrypts_with_the_newest_and_decrypts_with_any() -> None:
    old_blob = codec("old").encode(REASONING, encrypt=True)
    ring = codec("new", "old")
    assert ring.decode(old_blob) == REASONING
    new_blob = ring.encode(REASONING, encrypt=True)
    assert codec("new").decode(new_blob) == REASONING
    with pytest.raises(ArtifactKeyError):
        codec("old").decode(new_blob)


def test_tampered_and_corrupt_payloads_raise_not_crash() -> None:
    blob = bytearray(codec("k").encode(REASONING, encrypt=True))
    blob[40] ^= 1
    with pytest.raises(ArtifactKeyError):
        codec("k").decode(bytes(blob))
    with pytest.raises(ArtifactCorruptError):
        PayloadCodec(None).decode(bytes([LZ4_JSON]) + b"not an lz4 frame")
    with pytest.raises(ArtifactCorruptError):
        PayloadCodec(None).decode(b"")


def test_key_ids_are_fingerprints_not_key_material() -> None:
    ring = KeyRing.derive(["a secret"], salt=SALT)
    assert len(ring.current_id) == 12
    assert "a secret" not in repr(ring)


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(KeyConfigError):
        KeyRing.derive([""], salt=SALT)


def test_first_start_generates_a_key_file_with_mode_0600_and_logs_no_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        secrets = collect_secrets(None, [], tmp_path, create=True)
    path = key_file_path(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_key_file(path) == secrets
    assert "generated" in caplog.text
    assert secrets[0] not in caplog.text
    # the second start reads the same key back instead of generating another one
    assert collect_secrets(None, [], tmp_path, create=True) == secrets


def test_a_configured_key_encrypts_and_file_keys_still_decrypt(tmp_path: Path) -> None:
    generated = collect_secrets(None, [], tmp_path, create=True)
    assert collect_secrets("configured", ["older"], tmp_path, create=True) == [
        "configured",
        "older",
        *generated,
    ]


def test_prepending_a_key_keeps_the_old_ones(tmp_path: Path) -> None:
    first = collect_secrets(None, [], tmp_path, create=True)
    prepend_new_key(key_file_path(tmp_path))
    secrets = read_key_file(key_file_path(tmp_path))
    assert len(secrets) == 2
    assert secrets[1:] == first
    assert stat.S_IMODE(key_file_path(tmp_path).stat().st_mode) == 0o600


def test_an_unreadable_key_file_is_a_clear_error(tmp_path: Path) -> None:
    path = key_file_path(tmp_path)
    path.mkdir()  # a directory where the file should be
    with pytest.raises(KeyConfigError, match="cannot read the artifact key file"):
        read_key_file(path)
