"""The run-time-changeable part of the settings as plain JSON, to carry between processes.

The supervisor process owns the live settings of all its workers (``pipe-service set``,
reload): it sends workers this part, numbered by a generation, when it changes and in each
worker's handoff, so a restarted worker starts with the settings in force, not the ones the
configuration file had at start. No secret is in this part (the live sections hold none).

Synopsis::

    values = live_values(supervisor_settings)          # {"admission.slots": 8, ...}
    proposed = with_live_values(worker_settings, values)
    report = live.apply(proposed)
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from pipe_service.config.live import is_live
from pipe_service.config.loading import ConfigError, section_model
from pipe_service.config.settings import Settings

LiveValues = dict[str, Any]


def live_values(settings: Settings) -> LiveValues:
    """Every live key of ``settings`` (``section.field`` or ``field``) with its JSON value."""
    values: LiveValues = {}
    for key, value in settings.model_dump(mode="json").items():
        if section_model(key) is not None and isinstance(value, dict):
            values.update({f"{key}.{name}": inner for name, inner in value.items()})
        else:
            values[key] = value
    return {key: value for key, value in values.items() if is_live(key)}


def with_live_values(settings: Settings, values: LiveValues) -> Settings:
    """``settings`` with its live part replaced by ``values``; the rest stays as it is.

    Raises :class:`ConfigError` for a key that is not live or a value that does not validate
    (nothing is applied)."""
    fields = settings.model_dump()
    for key, value in values.items():
        if not is_live(key):
            raise ConfigError(f"configuration error: {key} cannot change while the service runs")
        section, _, name = key.partition(".")
        if name:
            fields[section] = {**fields[section], name: value}
        else:
            fields[key] = value
    try:
        return Settings.model_validate(fields)
    except ValidationError as exc:
        raise ConfigError(f"configuration error: live settings do not validate: {exc}") from None
