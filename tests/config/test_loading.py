"""Configuration: defaults, precedence, and one clear message for every kind of bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipe_service.cli import main, redacted_settings
from pipe_service.config import ConfigError, Settings, load_settings


def test_embedded_defaults_use_sqlite_under_var_no_redis_and_the_var_socket() -> None:
    settings, sources = load_settings({})
    assert settings.effective_socket_path == Path("var/pipe-service.sock")
    assert settings.effective_database_url == "sqlite:///var/pipe-service.db"
    assert settings.redis_url is None
    assert settings.uses_simulator
    assert sources == {}


def test_prefixed_environment_variables_set_fields() -> None:
    settings, sources = load_settings(
        {"PIPE_SERVICE_PORT": "9100", "PIPE_SERVICE_LOG_FORMAT": "text"}
    )
    assert settings.port == 9100
    assert settings.log_format == "text"
    assert sources["port"] == "env PIPE_SERVICE_PORT"


def test_conventional_variables_are_read_without_prefix() -> None:
    settings, _ = load_settings(
        {
            "OPENROUTER_API_KEY": "sk-or-v1-abc",
            "DATABASE_URL": "postgresql://u@h/db",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "PIPE_SERVICE_PERSISTENCE__ENCRYPTION_KEY": "fleet secret",
        }
    )
    assert settings.openrouter_api_key is not None
    assert settings.openrouter_api_key.get_secret_value() == "sk-or-v1-abc"
    assert not settings.uses_simulator
    assert settings.effective_database_url == "postgresql://u@h/db"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "pipe.toml"
    path.write_text('port = 9001\nlog_level = "DEBUG"\n')
    settings, sources = load_settings({"PIPE_SERVICE_PORT": "9002"}, config_path=path)
    assert settings.port == 9002
    assert settings.log_level == "DEBUG"
    assert sources["log_level"] == f"file {path}"


def test_config_file_path_from_environment(tmp_path: Path) -> None:
    path = tmp_path / "pipe.toml"
    path.write_text("backlog = 2048\n")
    settings, _ = load_settings({"PIPE_SERVICE_CONFIG": str(path)})
    assert settings.backlog == 2048


@pytest.mark.parametrize(
    ("environ", "file_text", "expected"),
    [
        pytest.param(
            {"PIPE_SERVICE_PORT": "eighty"},
            None,
            "port (from env PIPE_SERVICE_PORT)",
            id="wrong-type-env",
        ),
        pytest.param(
            {"PIPE_SERVICE_PORT": "70000"}, None, "less than or equal to 65535", id="out-of-range"
        ),
        pytest.param({"PIPE_SERVICE_PROT": "1"}, None, "Did you mean 'port'", id="unknown-env-key"),
        pytest.param({}, "shutdown_grace = 3\n", "shutdown_grace (file", id="unknown-file-key"),
        pytest.param({}, 'port = "x"\n', "port (from file", id="wrong-type-file"),
        pytest.param({}, "port = \n", "is not valid TOML", id="bad-toml"),
        pytest.param(
            {}, "[server]\nport = 1\n", "[server] is not a settings section", id="unknown-section"
        ),
        pytest.param(
            {},
            "[chat]\nreasoning_efort = 'high'\n",
            "chat.reasoning_efort",
            id="unknown-section-key",
        ),
        pytest.param(
            {"PIPE_SERVICE_CHAT__REASONING_EFFORT": "huge"},
            None,
            "chat.reasoning_effort (from env PIPE_SERVICE_CHAT__REASONING_EFFORT)",
            id="bad-section-value",
        ),
        pytest.param(
            {"PIPE_SERVICE_CHATS__X": "1"}, None, "Did you mean [chat]", id="unknown-section-env"
        ),
        pytest.param({"PIPE_SERVICE_CHAT": "1"}, None, "is a section", id="section-as-value"),
        pytest.param(
            {"PIPE_SERVICE_UPSTREAM__API_KEY": "sk-or-x"},
            None,
            "set OPENROUTER_API_KEY",
            id="api-key-in-section",
        ),
        pytest.param({"PIPE_SERVICE_HOST": "0.0.0.0"}, None, "set api_token", id="public-bind"),
        pytest.param(
            {"PIPE_SERVICE_UPSTREAM_MODE": "openrouter"},
            None,
            "no API key is set",
            id="openrouter-without-key",
        ),
        pytest.param({"PIPE_SERVICE_LOG_FORMAT": "xml"}, None, "'json' or 'text'", id="bad-choice"),
    ],
)
def test_bad_configuration_fails_with_one_clear_message(
    tmp_path: Path, environ: dict[str, str], file_text: str | None, expected: str
) -> None:
    path = None
    if file_text is not None:
        path = tmp_path / "pipe.toml"
        path.write_text(file_text)
    with pytest.raises(ConfigError) as raised:
        load_settings(environ, config_path=path)
    assert expected in str(raised.value)
    assert str(raised.value).startswith("configuration error")


def test_unreadable_file_names_the_path_and_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigError, match="cannot be read") as raised:
        load_settings({}, config_path=missing)
    assert str(missing) in str(raised.value)
    assert "--config" in str(raised.value)


def test_several_problems_are_reported_together() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({"PIPE_SERVICE_PORT": "x", "PIPE_SERVICE_BACKLOG": "1"})
    message = str(raised.value)
    assert message.startswith("configuration errors:")
    assert "port" in message
    assert "backlog" in message


def test_redacted_settings_never_show_secrets() -> None:
    settings, sources = load_settings(
        {
            "OPENROUTER_API_KEY": "sk-or-v1-topsecret",
            "PIPE_SERVICE_API_TOKEN": "tok-secret-0123456789",
            "DATABASE_URL": "postgresql://user:dbpass@127.0.0.1/test",
            "REDIS_URL": "redis://:redispass@127.0.0.1:6379/0",
            "PIPE_SERVICE_PERSISTENCE__ENCRYPTION_KEY": "fleet-secret-value",
        }
    )
    rendered = str(redacted_settings(settings, sources))
    secrets = ("topsecret", "tok-secret-0123456789", "dbpass", "redispass", "fleet-secret-value")
    for secret in secrets:
        assert secret not in rendered
    assert "<set, redacted>" in rendered


def test_cli_config_exits_78_with_the_message_on_bad_config(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PIPE_SERVICE_PORT", "eighty")
    assert main(["config"]) == 78
    err = capsys.readouterr().err
    assert "pipe-service: configuration error: port" in err
    assert err.count("\n") == 1


def test_settings_are_immutable() -> None:
    settings, _ = load_settings({})
    with pytest.raises(ValueError, match="frozen"):
        settings.port = 1  # type: ignore[misc]


def test_sections_are_set_from_nested_environment_names_and_toml_tables(tmp_path: Path) -> None:
    path = tmp_path / "pipe.toml"
    path.write_text('[chat]\nreasoning_effort = "low"\n[admission]\nslots = 3\n')
    settings, sources = load_settings(
        {
            "PIPE_SERVICE_ADMISSION__SLOTS": "7",
            "PIPE_SERVICE_CHAT__FALLBACK_MODELS": "a/one, b/two",
            "PIPE_SERVICE_UPSTREAM__READ_TIMEOUT_S": "120",
        },
        config_path=path,
    )
    assert settings.chat.reasoning_effort == "low"
    assert settings.chat.fallback_models == ("a/one", "b/two")
    assert settings.admission.slots == 7
    assert settings.upstream.read_timeout_s == 120
    assert sources["admission.slots"] == "env PIPE_SERVICE_ADMISSION__SLOTS"
    assert sources["chat.reasoning_effort"] == f"file {path}"


def test_docs_configuration_lists_every_setting() -> None:
    from pipe_service.config.loading import section_model

    docs = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
    text = docs.read_text(encoding="utf-8")
    names = []
    for name in Settings.model_fields:
        model = section_model(name)
        if model is None:
            names.append(name)
        else:
            names.extend(f"{name}.{field}" for field in model.model_fields)
    missing = [name for name in names if f"`{name}`" not in text]
    assert missing == [], f"docs/configuration.md lacks {missing}: run `make docs`"
