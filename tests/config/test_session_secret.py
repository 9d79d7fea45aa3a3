"""The session secret: configured, or generated once into the var dir with mode 0600."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from pipe_service.config import Settings
from pipe_service.config.session_secret import (
    SECRET_FILE_NAME,
    SessionSecretError,
    load_session_secret,
)


def test_a_configured_secret_wins_and_writes_nothing(tmp_path: Path) -> None:
    secret = load_session_secret(SecretStr("a-configured-secret"), tmp_path)
    assert secret == b"a-configured-secret"
    assert not (tmp_path / SECRET_FILE_NAME).exists()


def test_a_missing_secret_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    first = load_session_secret(None, tmp_path / "var")
    second = load_session_secret(None, tmp_path / "var")
    path = tmp_path / "var" / SECRET_FILE_NAME
    assert first == second
    assert len(first) == 64
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_secret_file_readable_by_others_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / SECRET_FILE_NAME
    path.write_text("x" * 64)
    os.chmod(path, 0o644)
    with pytest.raises(SessionSecretError, match="chmod 600"):
        load_session_secret(None, tmp_path)


def test_a_truncated_secret_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / SECRET_FILE_NAME
    path.write_text("short")
    os.chmod(path, 0o600)
    with pytest.raises(SessionSecretError, match="delete it"):
        load_session_secret(None, tmp_path)


def test_a_short_configured_secret_fails_validation_naming_the_field() -> None:
    with pytest.raises(ValidationError, match="session_secret"):
        Settings(session_secret="short")


def test_a_worker_starting_while_another_writes_the_secret_reads_the_same_whole_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``serve --workers`` starts workers together: the second must never see a half-written
    file (it once read an empty one, refused it, and the service exited 70)."""
    var_dir = tmp_path / "var"
    real_token_hex = secrets.token_hex
    seen_by_second: list[bytes] = []

    def token_hex(nbytes: int) -> str:
        if nbytes == 32 and not seen_by_second:  # the first worker is making its secret
            seen_by_second.append(b"")  # once: the second worker's own draw runs plainly
            seen_by_second[0] = load_session_secret(None, var_dir)
        return real_token_hex(nbytes)

    monkeypatch.setattr(secrets, "token_hex", token_hex)
    first = load_session_secret(None, var_dir)
    assert seen_by_second == [first]
    assert len(first) == 64
    assert sorted(path.name for path in var_dir.iterdir()) == [SECRET_FILE_NAME]
