"""``pipe-service db upgrade|status`` and ``pipe-service keys rotate`` as an operator runs them."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
import trio

from pipe_service.cli import main
from pipe_service.config.persistence import PersistenceSettings
from pipe_service.storage.artifact_store import NewArtifact, insert_artifacts, read_artifact
from pipe_service.storage.bootstrap import codec_for, prepare_artifact_storage
from pipe_service.storage.engine import Database
from pipe_service.storage.ids import UlidGenerator
from pipe_service.storage.keys import key_file_path, read_key_file
from pipe_service.storage.migrations import kdf_salt

IDS = UlidGenerator()


@pytest.fixture
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("DATABASE_URL", "REDIS_URL", "OPENROUTER_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIPE_SERVICE_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("PIPE_SERVICE_LOG_FORMAT", "text")
    return tmp_path


def _url(var_dir: Path) -> str:
    return f"sqlite:///{var_dir}/pipe-service.db"


async def _store_rows(var_dir: Path, count: int) -> list[NewArtifact]:
    database = Database.open(_url(var_dir), pool_size=1)
    try:
        codec = await prepare_artifact_storage(database, PersistenceSettings(), var_dir)
        rows = [
            NewArtifact(
                id=IDS.new(),
                owner="user:u",
                chat_id="c",
                message_id="m",
                model="x/y",
                item={
                    "type": "reasoning",
                    "id": f"rs_{n}",
                    "summary": [],
                    "encrypted_content": "gAAAA",
                },
                position=n,
            )
            for n in range(count)
        ]
        await database.run_sync(partial(insert_artifacts, codec=codec, rows=rows, now=1.0))
        return rows
    finally:
        database.dispose()


async def _read_with_newest_key_only(var_dir: Path, artifact_id: str) -> object:
    database = Database.open(_url(var_dir), pool_size=1)
    try:
        newest = read_key_file(key_file_path(var_dir))[0]
        salt = await database.run_sync(kdf_salt)
        codec = await codec_for(
            PersistenceSettings.model_validate({"encryption_key": newest}),
            var_dir / "none",
            salt=salt,
            create_key=False,
        )
        return await database.run_sync(partial(read_artifact, codec=codec, artifact_id=artifact_id))
    finally:
        database.dispose()


def test_keys_rotate_generate_reencrypts_every_row_with_a_new_key(
    var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = trio.run(_store_rows, var_dir, 7)
    assert main(["keys", "rotate", "--generate", "--batch", "3"]) == 0
    assert len(read_key_file(key_file_path(var_dir))) == 2
    assert "re-encrypted 7 artifact(s)" in capsys.readouterr().out
    for row in rows:
        assert trio.run(_read_with_newest_key_only, var_dir, row.id) == row.item
    # a second run has nothing left to do
    assert main(["keys", "rotate"]) == 0
    assert "already uses the current key" in capsys.readouterr().out


def test_keys_rotate_generate_refuses_when_the_key_is_configured(
    var_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PIPE_SERVICE_PERSISTENCE__ENCRYPTION_KEY", "configured secret")
    trio.run(_store_rows, var_dir, 1)
    assert main(["keys", "rotate", "--generate"]) == 78
    assert "previous_keys" in capsys.readouterr().err


def test_a_lost_old_key_stops_rotation_with_a_clear_error(
    var_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    trio.run(_store_rows, var_dir, 1)
    key_file_path(var_dir).unlink()  # the old key is gone; a new configured key cannot read it
    monkeypatch.setenv("PIPE_SERVICE_PERSISTENCE__ENCRYPTION_KEY", "new secret")
    assert main(["keys", "rotate"]) == 78
    assert "previous_keys" in capsys.readouterr().err


def test_db_upgrade_and_status(var_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "status"]) == 0
    assert "schema version 0" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert "applied migration 1" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert "already at schema version 1" in capsys.readouterr().out
