"""The TCP token: strong enough or refused, generated once when unset, and then required."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from pipe_service.cli import main
from pipe_service.config import ConfigError, Settings, load_settings
from pipe_service.front.api_token import resolve_api_token
from tests.service.conftest import Sidecar, free_port


@pytest.mark.parametrize("token", ["", " ", "a", "short-token", "has spaces in the token"])
def test_a_weak_token_is_a_configuration_error_naming_the_field(token: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({"PIPE_SERVICE_API_TOKEN": token})
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("configuration error: api_token")
    assert "at least 16 characters" in message
    if len(token) > 3:
        assert token not in message  # a secret, even a bad one, is never echoed


@pytest.mark.parametrize("token", ["", " ", "a"])
def test_the_cli_exits_78_on_a_weak_token(
    token: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PIPE_SERVICE_API_TOKEN", token)
    assert main(["serve"]) == 78
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "api_token" in err


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings.model_validate({"var_dir": tmp_path, "port": free_port(), **values})


def test_with_tcp_on_and_no_token_one_is_generated_into_the_var_dir_mode_0600(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = _settings(tmp_path)
    token = resolve_api_token(settings)
    assert token is not None
    path = tmp_path / "api-token"
    assert path.read_text().strip() == token.get_secret_value()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(token.get_secret_value()) >= 32
    assert token.get_secret_value() in capsys.readouterr().err


def test_the_generated_token_is_printed_only_on_first_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = resolve_api_token(_settings(tmp_path))
    capsys.readouterr()
    second = resolve_api_token(_settings(tmp_path))
    assert first is not None
    assert second is not None
    assert second.get_secret_value() == first.get_secret_value()
    assert first.get_secret_value() not in capsys.readouterr().err


def test_a_token_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "api-token"
    path.write_text("x" * 40)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        resolve_api_token(_settings(tmp_path))


def test_a_configured_token_is_used_and_nothing_is_written(tmp_path: Path) -> None:
    token = resolve_api_token(_settings(tmp_path, api_token="configured-token-0123456789"))
    assert token is not None
    assert token.get_secret_value() == "configured-token-0123456789"
    assert not (tmp_path / "api-token").exists()


def test_with_tcp_off_no_token_is_generated(tmp_path: Path) -> None:
    settings = Settings.model_validate({"var_dir": tmp_path, "port": 0})
    assert resolve_api_token(settings) is None
    assert not (tmp_path / "api-token").exists()


@pytest.mark.parametrize("sidecar_overrides", [{"api_token": None}])
async def test_a_sidecar_without_a_configured_token_requires_the_generated_one(
    sidecar: Sidecar,
) -> None:
    generated = (sidecar.settings.var_dir / "api-token").read_text().strip()
    async with sidecar.tcp_client(token=False) as client:
        refused = await client.get("/v1/models")
        allowed = await client.get("/v1/models", headers={"Authorization": f"Bearer {generated}"})
    assert refused.status_code == 401
    assert allowed.status_code == 200


def test_cli_config_says_where_the_tcp_token_comes_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PIPE_SERVICE_VAR_DIR", str(tmp_path))
    assert main(["config"]) == 0
    shown = capsys.readouterr().out
    assert f'"tcp_token": "{tmp_path / "api-token"} (generated on first start if missing)"' in shown
    assert not (tmp_path / "api-token").exists()  # `config` only reads, never generates
