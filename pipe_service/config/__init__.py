"""Typed configuration: one settings model, read from defaults, a TOML file and the environment."""

from __future__ import annotations

from pipe_service.config.loading import ConfigError, load_settings
from pipe_service.config.settings import Settings

__all__ = ["ConfigError", "Settings", "load_settings"]
