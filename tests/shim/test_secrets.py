"""SIDECAR_TOKEN and the user's OPENROUTER_API_KEY at rest: encrypted the way Open WebUI derives
its valve key from ``WEBUI_SECRET_KEY``, masked in the form, readable by the shim."""

from __future__ import annotations

import base64
import hashlib
import json
import types

import pytest
from cryptography.fernet import Fernet

SECRET = "a-webui-secret-key"


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBUI_SECRET_KEY", SECRET)


def _owui_fernet() -> Fernet:
    """Open WebUI 0.12.4's own derivation (utils/valves.py) for a non-Fernet secret."""
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(SECRET.encode()).digest()))


@pytest.mark.usefixtures("keyed")
def test_the_sidecar_token_is_stored_encrypted_with_open_webuis_key(
    shim: types.ModuleType,
) -> None:
    stored = shim.Pipe.Valves(SIDECAR_TOKEN="tcp-token-1").model_dump()["SIDECAR_TOKEN"]
    assert stored.startswith("encrypted:")
    assert "tcp-token-1" not in stored
    token = stored.removeprefix("encrypted:").encode()
    assert _owui_fernet().decrypt(token).decode() == "tcp-token-1"


@pytest.mark.usefixtures("keyed")
def test_loading_the_stored_valves_again_does_not_encrypt_twice(shim: types.ModuleType) -> None:
    stored = shim.Pipe.Valves(SIDECAR_TOKEN="tcp-token-1").model_dump()
    again = shim.Pipe.Valves(**stored).model_dump()
    assert again == stored
    assert shim.reveal_secret(again["SIDECAR_TOKEN"], "SIDECAR_TOKEN") == "tcp-token-1"


@pytest.mark.usefixtures("keyed")
def test_the_users_openrouter_key_is_stored_encrypted(shim: types.ModuleType) -> None:
    stored = shim.Pipe.UserValves(OPENROUTER_API_KEY="sk-or-v1-mine").model_dump()
    assert "sk-or-v1-mine" not in json.dumps(stored)
    assert shim.reveal_secret(stored["OPENROUTER_API_KEY"], "OPENROUTER_API_KEY") == (
        "sk-or-v1-mine"
    )


def test_a_44_character_secret_is_used_as_the_fernet_key_itself(
    shim: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("WEBUI_SECRET_KEY", key)
    stored = shim.encrypt_secret("tcp-token-2")
    assert Fernet(key.encode()).decrypt(stored.removeprefix("encrypted:").encode()) == (
        b"tcp-token-2"
    )


def test_a_secret_saved_under_another_key_names_the_valve(
    shim: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBUI_SECRET_KEY", "first-key")
    stored = shim.encrypt_secret("tcp-token-3")
    monkeypatch.setenv("WEBUI_SECRET_KEY", "rotated-key")
    with pytest.raises(shim.SecretUnreadableError, match="SIDECAR_TOKEN was encrypted with"):
        shim.reveal_secret(stored, "SIDECAR_TOKEN")


def test_the_form_shows_both_secrets_as_password_fields(shim: types.ModuleType) -> None:
    admin = shim.Pipe.Valves.model_json_schema()["properties"]["SIDECAR_TOKEN"]
    user = shim.Pipe.UserValves.model_json_schema()["properties"]["OPENROUTER_API_KEY"]
    assert admin["input"] == {"type": "password"}
    assert user["input"] == {"type": "password"}


def test_without_a_secret_key_values_stay_as_given(
    shim: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEBUI_SECRET_KEY", raising=False)
    assert shim.encrypt_secret("plain") == "plain"
    assert shim.reveal_secret("plain", "SIDECAR_TOKEN") == "plain"
