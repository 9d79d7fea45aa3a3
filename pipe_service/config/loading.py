"""Read the settings from defaults, an optional TOML file and the environment.

Precedence, lowest first: embedded defaults, the TOML file (``--config PATH`` or
``PIPE_SERVICE_CONFIG``), ``PIPE_SERVICE_*`` variables, then the conventional variables
(``OPENROUTER_API_KEY``, ``DATABASE_URL``, ``REDIS_URL``). Every problem is reported in one
:class:`ConfigError` whose message names the field, where the bad value came from, and the fix.
"""

from __future__ import annotations

import difflib
import json
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from pipe_service.config.settings import CONVENTIONAL_ENV, ENV_PREFIX, SECTION_SEPARATOR, Settings

CONFIG_FILE_ENV = f"{ENV_PREFIX}CONFIG"


class ConfigError(Exception):
    """The configuration cannot be used; ``str(err)`` is the message to show the operator."""


def env_name(field: str) -> str:
    """The environment variable that sets ``field`` (``section.field`` for sections)."""
    return f"{ENV_PREFIX}{field.replace('.', SECTION_SEPARATOR).upper()}"


def section_names() -> list[str]:
    return [name for name in Settings.model_fields if section_model(name) is not None]


def section_model(name: str) -> type[BaseModel] | None:
    """The model of a settings section (a field whose value is itself a settings model)."""
    field = Settings.model_fields.get(name)
    if field is None:
        return None
    annotation = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _env_value(raw: str, field: FieldInfo) -> Any:
    """Environment values are strings: lists are comma-separated, objects are JSON."""
    text = raw.strip()
    if text.startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return raw
    origin = typing.get_origin(field.annotation)
    if origin in (tuple, list) or "tuple[" in str(field.annotation):
        return [item.strip() for item in text.split(",") if item.strip()]
    return raw


def load_settings(
    environ: Mapping[str, str], *, config_path: Path | None = None
) -> tuple[Settings, dict[str, str]]:
    """Build the effective settings and a map of field -> where its value came from.

    Synopsis::

        settings, sources = load_settings(os.environ, config_path=args.config)
    """
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    problems: list[str] = []

    path = config_path
    if path is None and environ.get(CONFIG_FILE_ENV):
        path = Path(environ[CONFIG_FILE_ENV])
    if path is not None:
        for key, value in _read_toml(path).items():
            if isinstance(value, dict):
                values[key] = dict(value)
                for field in value:
                    sources[f"{key}.{field}"] = f"file {path}"
            else:
                values[key] = value
                sources[key] = f"file {path}"

    known = set(Settings.model_fields)
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_FILE_ENV:
            continue
        key = name[len(ENV_PREFIX) :].lower()
        section, _, field = key.partition(SECTION_SEPARATOR)
        if field:
            model = section_model(section)
            if model is None:
                close = difflib.get_close_matches(section, section_names(), n=1)
                hint = f" Did you mean [{close[0]}]?" if close else ""
                problems.append(
                    f"{name}: {section!r} is not a settings section "
                    f"({', '.join(section_names())}).{hint}"
                )
                continue
            if field not in model.model_fields:
                problems.append(
                    f"{name}: unknown setting in [{section}]. "
                    f"{_suggest(field, set(model.model_fields), section)}"
                )
                continue
            values.setdefault(section, {})[field] = _env_value(raw, model.model_fields[field])
            sources[f"{section}.{field}"] = f"env {name}"
            continue
        if section_model(key) is not None:
            problems.append(
                f"{name}: [{key}] is a section; set its fields as {name}{SECTION_SEPARATOR}<FIELD>."
            )
            continue
        if key not in known:
            problems.append(f"{name}: unknown setting. {_suggest(key, known)}")
            continue
        values[key] = raw
        sources[key] = f"env {name}"
    for name, field_name in CONVENTIONAL_ENV.items():
        if environ.get(name):
            values[field_name] = environ[name]
            sources[field_name] = f"env {name}"

    for key in [key for key in values if key not in known]:
        problems.append(f"{key} ({sources[key]}): unknown setting. {_suggest(key, known)}")
        del values[key]
    if problems:
        raise ConfigError(_format(problems))

    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(_format(_explain(exc, sources))) from None
    return settings, sources


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            _format(
                [
                    f"file {path} cannot be read ({exc.strerror or exc}). "
                    f"Fix: check the path given to --config or {CONFIG_FILE_ENV}."
                ]
            )
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(_format([f"file {path} is not UTF-8 text."])) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_format([f"file {path} is not valid TOML: {exc}."])) from None
    stray = [
        key for key, value in data.items() if isinstance(value, dict) and section_model(key) is None
    ]
    if stray:
        raise ConfigError(
            _format(
                [
                    f"file {path}: [{', '.join(stray)}] is not a settings section; sections are "
                    f"{', '.join(section_names())}."
                ]
            )
        )
    return data


def _explain(exc: ValidationError, sources: Mapping[str, str]) -> list[str]:
    lines = []
    for error in exc.errors():
        parts = [str(part) for part in error["loc"]]
        location = ".".join(parts[:2])
        if not location:
            lines.append(f"{error['msg'].removeprefix('Value error, ')}.")
            continue
        source = sources.get(location, f"default; set it with {env_name(location)}")
        field = _field_info(parts[:2])
        fix = f" Setting: {field.description}" if field and field.description else ""
        reason = error["msg"].removeprefix("Value error, ")
        lines.append(f"{'.'.join(parts)} (from {source}): {reason}.{fix}")
    return lines


def _field_info(parts: list[str]) -> FieldInfo | None:
    field = Settings.model_fields.get(parts[0])
    if len(parts) == 2:
        model = section_model(parts[0])
        field = model.model_fields.get(parts[1]) if model is not None else None
    return field


def _suggest(field: str, known: set[str], section: str | None = None) -> str:
    close = difflib.get_close_matches(field, sorted(known), n=1)
    if close:
        name = f"{section}.{close[0]}" if section else close[0]
        return f"Did you mean {close[0]!r} ({env_name(name)})?"
    return "See docs/configuration.md for the settings."


def _format(problems: list[str]) -> str:
    if len(problems) == 1:
        return f"configuration error: {problems[0]}"
    return "configuration errors:\n" + "\n".join(f"  - {problem}" for problem in problems)
