"""Settings that change while the service runs: ``pipe-service set KEY=VALUE`` and reload.

Some settings are read per request or are limits a running actor can adjust (admission slots
and queue, tool limits, log levels, request defaults, error wording); they take effect for new
requests at once, and running requests keep going. The rest (listeners, the var dir, the
database, the upstream client's pools) are fixed at start: a changed value is reported as
"needs restart" and left as it is, so the running process never half-applies a setting.

Synopsis::

    live = LiveSettings(settings, reload_source=lambda: load_settings(os.environ)[0])
    live.add_applier(lambda s: gate.set_limits(limits_from(s)))
    report = live.set_value("admission.slots", "8")      # -> applied ["admission.slots"]
    report = live.reload()                                # SIGHUP: TOML + env again
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from pipe_service.config.loading import ConfigError, _env_value, _explain, _suggest, section_model
from pipe_service.config.settings import Settings

logger = logging.getLogger("pipe_service.config.live")

LIVE_KEYS = frozenset(
    {
        "admission.slots",
        "admission.queue",
        "admission.retry_after_s",
        "admission.user_breaker_failures",
        "admission.user_breaker_window_s",
        "catalog.unavailable_retry_after_s",
        "log_level",
        "logging.user_levels",
        "logging.attach_to_errors",
        "logging.request_buffer_lines",
    }
)
LIVE_SECTIONS = frozenset({"tools", "chat", "streaming", "messages"})
"""Every field of these sections applies to new requests."""

Applier = Callable[[Settings], None]


def is_live(key: str) -> bool:
    return key in LIVE_KEYS or key.partition(".")[0] in LIVE_SECTIONS


@dataclass(frozen=True)
class ApplyReport:
    """What a reload or ``set`` did: keys applied now, keys left for a restart."""

    applied: list[str] = field(default_factory=list)
    needs_restart: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {"applied": self.applied, "needs_restart": self.needs_restart}


class LiveSettings:
    """The settings in force, and the appliers that push changes into running parts."""

    def __init__(
        self, settings: Settings, *, reload_source: Callable[[], Settings] | None = None
    ) -> None:
        self.current = settings
        self._reload_source = reload_source
        self._appliers: list[Applier] = []

    def add_applier(self, applier: Applier) -> None:
        self._appliers.append(applier)

    def reload(self) -> ApplyReport:
        """Read the configuration again (TOML file + environment) and apply what can change.

        Raises :class:`ConfigError` (nothing changed) when the new configuration is invalid.
        """
        if self._reload_source is None:
            raise ConfigError("configuration error: this process has no configuration to reload")
        return self.apply(self._reload_source())

    def set_value(self, key: str, raw: str) -> ApplyReport:
        """Set one setting (``section.field`` or ``field``) from its text form, like the
        environment variable would; refuses keys that need a restart."""
        section, _, name = key.partition(".")
        values = self.current.model_dump()
        if name:
            model = section_model(section)
            if model is None or name not in model.model_fields:
                known = set(model.model_fields) if model is not None else set()
                raise ConfigError(
                    f"configuration error: {key}: unknown setting. "
                    + _suggest(name, known, section if model else None)
                )
            values[section] = {**values[section], name: _env_value(raw, model.model_fields[name])}
        else:
            if key not in Settings.model_fields or section_model(key) is not None:
                raise ConfigError(
                    f"configuration error: {key}: unknown setting (sections take "
                    f"section.field). {_suggest(key, set(Settings.model_fields))}"
                )
            values[key] = _env_value(raw, Settings.model_fields[key])
        if not is_live(key):
            raise ConfigError(
                f"configuration error: {key} cannot change while the service runs (needs "
                "restart); set it in the TOML file or environment and restart the service"
            )
        return self.apply(_validate(values, {key: "pipe-service set"}))

    def apply(self, proposed: Settings) -> ApplyReport:
        """Apply the live part of ``proposed``; other changes are reported, not applied."""
        old = _flatten(self.current.model_dump())
        new = _flatten(proposed.model_dump())
        changed = sorted(key for key in new if old.get(key) != new[key])
        applied = [key for key in changed if is_live(key)]
        restart = [key for key in changed if not is_live(key)]
        if restart:
            values = proposed.model_dump()
            for key in restart:
                _put(values, key, old[key])
            proposed = _validate(values, {})
        for applier in self._appliers:
            applier(proposed)
        self.current = proposed
        if changed:
            logger.info(
                "settings applied",
                extra={"applied": ",".join(applied), "needs_restart": ",".join(restart)},
            )
        return ApplyReport(applied=applied, needs_restart=restart)


def _validate(values: dict[str, Any], sources: dict[str, str]) -> Settings:
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = _explain(exc, sources)
        raise ConfigError("configuration error: " + " ".join(problems)) from None


def _flatten(values: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if section_model(key) is not None and isinstance(value, dict):
            for name, inner in value.items():
                flat[f"{key}.{name}"] = inner
        else:
            flat[key] = value
    return flat


def _put(values: dict[str, Any], key: str, value: Any) -> None:
    section, _, name = key.partition(".")
    if name:
        values[section] = {**values[section], name: value}
    else:
        values[key] = value
