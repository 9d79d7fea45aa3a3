"""Valve values from ``K=V`` strings, typed by the Function's valves JSON schema.

Open WebUI publishes a Function's ``Valves`` model as a pydantic JSON schema
(``GET /api/v1/functions/id/{id}/valves/spec``). The command line only has strings, so each value
is converted to the first type its field accepts: ``null``, booleans, integers, numbers, strings,
then JSON for arrays and objects. ``Literal``/``Enum`` fields must name one of their options.

Synopsis::

    raw = parse_valve_assignments(["SIDECAR_ADDRESSES=unix:/run/pipe-service/sock", "RETRIES=3"])
    values = type_valves(raw, spec)   # {"SIDECAR_ADDRESSES": "unix:/run/...", "RETRIES": 3}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pipe_service.installer.errors import InstallError

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_NULL = frozenset({"null", "none"})
# Conversion order for unions: the narrowest interpretation of the string wins.
_TYPE_ORDER = ("null", "boolean", "integer", "number", "string", "array", "object")


def parse_valve_assignments(assignments: Iterable[str]) -> dict[str, str]:
    """``["K=V", ...]`` as a dict; the value may contain ``=``; a later K overrides an earlier."""
    parsed: dict[str, str] = {}
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InstallError(f"--valve {assignment!r}: expected NAME=VALUE")
        parsed[name] = value
    return parsed


def valves_from_environment(
    assignments: Iterable[str], environ: Mapping[str, str]
) -> dict[str, str]:
    """``["NAME=ENV_VAR", ...]`` as ``{NAME: environ[ENV_VAR]}``; a missing variable is an error
    naming it (the value itself is never shown)."""
    values: dict[str, str] = {}
    for name, variable in parse_valve_assignments(assignments).items():
        variable = variable.strip()
        if variable not in environ:
            raise InstallError(f"--valve-from-env {name}={variable}: ${variable} is not set")
        values[name] = environ[variable]
    return values


def type_valves(raw: Mapping[str, str], spec: Mapping[str, Any] | None) -> dict[str, object]:
    """Convert every raw value by its field in ``spec``; unknown names list the valid ones."""
    properties: Mapping[str, Any] = (spec or {}).get("properties") or {}
    unknown = sorted(name for name in raw if name not in properties)
    if unknown:
        valid = ", ".join(sorted(properties)) or "(this Function has no valves)"
        raise InstallError(f"unknown valve(s) {', '.join(unknown)}; valid valves: {valid}")
    definitions: Mapping[str, Any] = (spec or {}).get("$defs") or {}
    return {
        name: _convert(name, value, properties[name], definitions) for name, value in raw.items()
    }


def _convert(name: str, value: str, field: Mapping[str, Any], defs: Mapping[str, Any]) -> object:
    alternatives = _alternatives(field, defs)
    options = [option for alt in alternatives for option in alt.get("enum", ())]
    options += [alt["const"] for alt in alternatives if "const" in alt]
    types = {kind for alt in alternatives for kind in _types_of(alt)}
    if options and not types - {"string", "integer", "number", "boolean"}:
        return _choose_option(name, value, options, allow_null="null" in types)
    for kind in _TYPE_ORDER:
        if kind in types or (kind == "string" and not types):
            converted = _as_type(kind, value)
            if converted is not _NO_MATCH:
                return converted
    wanted = " or ".join(kind for kind in _TYPE_ORDER if kind in types)
    raise InstallError(f"valve {name}: {value!r} is not a valid {wanted}")


def _alternatives(field: Mapping[str, Any], defs: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The field's schema flattened into its union members, ``$ref`` resolved."""
    if "$ref" in field:
        return _alternatives(defs.get(str(field["$ref"]).rsplit("/", 1)[-1], {}), defs)
    members: Sequence[Mapping[str, Any]] = field.get("anyOf") or field.get("oneOf") or ()
    if members:
        return [alt for member in members for alt in _alternatives(member, defs)]
    if "allOf" in field and len(field["allOf"]) == 1:
        return _alternatives(field["allOf"][0], defs)
    return [field]


def _types_of(schema: Mapping[str, Any]) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, list):
        return [str(k) for k in kind]
    return [str(kind)] if kind else []


def _choose_option(name: str, value: str, options: list[object], *, allow_null: bool) -> object:
    if allow_null and value.strip().lower() in _NULL:
        return None
    for option in options:
        if str(option) == value or (
            isinstance(option, bool) and _as_type("boolean", value) is option
        ):
            return option
    listed = ", ".join(str(option) for option in options)
    raise InstallError(f"valve {name}: {value!r} is not one of {listed}")


class _NoMatch:
    pass


_NO_MATCH = _NoMatch()


def _as_type(kind: str, value: str) -> object:
    text = value.strip()
    lowered = text.lower()
    if kind == "null":
        return None if lowered in _NULL else _NO_MATCH
    if kind == "boolean":
        return True if lowered in _TRUE else False if lowered in _FALSE else _NO_MATCH
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            return _NO_MATCH
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            return _NO_MATCH
    if kind == "string":
        return value
    try:
        decoded = json.loads(text)
    except ValueError:
        return _NO_MATCH
    expected = list if kind == "array" else dict
    return decoded if isinstance(decoded, expected) else _NO_MATCH
