"""The live part of the settings travels as JSON and comes back to the same settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipe_service.config import ConfigError, Settings
from pipe_service.workers.live_values import live_values, with_live_values


def _changed(tmp_path: Path) -> Settings:
    """Non-default values in every live section, nested models, tuples, Decimals and dicts."""
    return Settings.model_validate(
        {
            "var_dir": tmp_path,
            "log_level": "DEBUG",
            "admission": {"slots": 3, "queue": 7, "retry_after_s": 2},
            "logging": {"user_levels": {"alice": "DEBUG"}, "request_buffer_lines": 50},
            "chat": {
                "fallback_models": ["a/b", "c/d"],
                "model_routing": [
                    {
                        "models": ["anthropic/*"],
                        "routing": {"order": ["x"], "max_price": {"prompt": "0.000003"}},
                    }
                ],
            },
            "streaming": {"flush_bytes": 2048},
            "tools": {"retries": 4},
            "messages": {"support_contact": "ops@example.org"},
        }
    )


def test_the_live_part_survives_json_between_processes(tmp_path: Path) -> None:
    changed = _changed(tmp_path)
    carried = json.loads(json.dumps(live_values(changed)))

    assert with_live_values(Settings(var_dir=tmp_path), carried) == changed


def test_only_live_keys_travel(tmp_path: Path) -> None:
    values = live_values(_changed(tmp_path))

    assert values["admission.slots"] == 3
    assert "admission.max_request_bytes_in_flight" not in values
    assert not {"var_dir", "port", "database_url", "openrouter_api_key"} & set(values)


def test_a_key_that_needs_a_restart_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="port cannot change"):
        with_live_values(Settings(var_dir=tmp_path), {"port": 9000})


def test_a_value_that_does_not_validate_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"admission\.slots"):
        with_live_values(Settings(var_dir=tmp_path), {"admission.slots": "many"})
