"""Rewrite a tool's JSON Schema into the strict subset (OpenAI/OpenRouter ``strict: true``).

Strict mode demands: an explicit ``type`` on every schema, every property listed in
``required``, and ``additionalProperties: false`` on every object. The rewrite:

* inlines ``allOf`` (properties merged, ``required`` united, first value wins otherwise);
* turns ``oneOf`` into ``anyOf``;
* infers a missing ``type`` from ``properties`` (object), ``items`` (array), ``enum`` or
  ``const`` (the JSON types of their values);
* makes each originally optional property nullable (``["string", "null"]``, or an extra
  ``{"type": "null"}`` branch for ``anyOf``/``$ref``) and then requires it, so the model
  sends ``null`` where it used to omit the field;
* recurses into ``properties``, ``items``, ``anyOf``, ``$defs`` and ``definitions``.

Schemas strict mode cannot express raise :class:`NotStrictableError` (untyped "any" schemas,
arrays without ``items``, maps via ``additionalProperties: {schema}`` or ``true``, a root that
is not an object); the caller then sends that tool non-strict, unchanged.

Synopsis::

    try:
        parameters, strict = to_strict_schema(parameters), True
    except NotStrictableError:
        strict = False
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_SCHEMA_DEPTH", "NotStrictableError", "SchemaTooDeepError", "to_strict_schema"]

MAX_SCHEMA_DEPTH = 32
_JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})
_DEFINITION_KEYS = ("$defs", "definitions")


class NotStrictableError(ValueError):
    """The schema has a construct strict mode cannot express."""


class SchemaTooDeepError(ValueError):
    """The schema nests deeper than :data:`MAX_SCHEMA_DEPTH` (a hostile or broken schema)."""


def to_strict_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A strict copy of an object schema; the input is not modified."""
    strict = _strict(schema, 0)
    if strict.get("type") != "object":
        raise NotStrictableError("the root of a tool schema must be an object")
    return strict


def _strict(node: object, depth: int) -> dict[str, Any]:
    if depth > MAX_SCHEMA_DEPTH:
        raise SchemaTooDeepError(f"schema nests deeper than {MAX_SCHEMA_DEPTH} levels")
    if not isinstance(node, Mapping):
        raise NotStrictableError("boolean or non-object subschemas have no strict form")
    schema = _inline_all_of(node, depth)
    if "oneOf" in schema:
        schema["anyOf"] = schema.pop("oneOf")
    _infer_type(schema)
    types = _types(schema)
    if "object" in types:
        _strict_object(schema, depth)
    if "array" in types:
        if "items" not in schema:
            raise NotStrictableError("arrays need 'items' in strict mode")
        schema["items"] = _strict(schema["items"], depth + 1)
    if "anyOf" in schema:
        branches = schema["anyOf"]
        if not isinstance(branches, list) or not branches:
            raise NotStrictableError("'anyOf' must be a non-empty list")
        schema["anyOf"] = [_strict(branch, depth + 1) for branch in branches]
    for key in _DEFINITION_KEYS:
        if key in schema:
            definitions = schema[key]
            if not isinstance(definitions, Mapping):
                raise NotStrictableError(f"'{key}' must be an object")
            schema[key] = {str(name): _strict(sub, depth + 1) for name, sub in definitions.items()}
    return schema


def _inline_all_of(node: Mapping[str, Any], depth: int) -> dict[str, Any]:
    schema = dict(node)
    while "allOf" in schema:
        depth += 1  # a part may bring its own allOf: each round is one nesting level
        if depth > MAX_SCHEMA_DEPTH:
            raise SchemaTooDeepError(f"schema nests deeper than {MAX_SCHEMA_DEPTH} levels")
        parts = schema.pop("allOf")
        if not isinstance(parts, list):
            raise NotStrictableError("'allOf' must be a list")
        for part in parts:
            if not isinstance(part, Mapping):
                raise NotStrictableError("'allOf' entries must be objects")
            for key, value in part.items():
                if key == "properties" and isinstance(value, Mapping):
                    merged = schema.get("properties")
                    schema["properties"] = {
                        **(merged if isinstance(merged, Mapping) else {}),
                        **value,
                    }
                elif key == "required" and isinstance(value, list):
                    current = schema.get("required")
                    current_list = current if isinstance(current, list) else []
                    schema["required"] = current_list + [
                        name for name in value if name not in current_list
                    ]
                else:
                    schema.setdefault(key, value)
    return schema


def _infer_type(schema: dict[str, Any]) -> None:
    if "type" in schema:
        if not _types(schema) or not set(_types(schema)) <= _JSON_TYPES:
            raise NotStrictableError(f"unknown JSON Schema type {schema['type']!r}")
        return
    if "anyOf" in schema or "$ref" in schema:
        return  # the branches or the referenced definition carry the type
    if "properties" in schema:
        schema["type"] = "object"
    elif "items" in schema:
        schema["type"] = "array"
    elif "enum" in schema and isinstance(schema["enum"], list) and schema["enum"]:
        schema["type"] = _type_of_values(schema["enum"])
    elif "const" in schema:
        schema["type"] = _type_of_values([schema["const"]])
    else:
        raise NotStrictableError("a schema without a type accepts anything; strict mode cannot")


def _strict_object(schema: dict[str, Any], depth: int) -> None:
    properties = schema.get("properties", {})
    if not isinstance(properties, Mapping):
        raise NotStrictableError("'properties' must be an object")
    extra = schema.get("additionalProperties", False)
    if extra is not False:
        raise NotStrictableError("objects with additional properties (maps) have no strict form")
    required = schema.get("required", [])
    originally_required = (
        {name for name in required if isinstance(name, str)}
        if isinstance(required, list)
        else set()
    )
    strict_properties: dict[str, Any] = {}
    for name, sub in properties.items():
        strict_sub = _strict(sub, depth + 1)
        strict_properties[str(name)] = (
            strict_sub if name in originally_required else _nullable(strict_sub)
        )
    schema["properties"] = strict_properties
    schema["required"] = list(strict_properties)
    schema["additionalProperties"] = False


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "type" in schema:
        types = _types(schema)
        if "null" not in types:
            schema["type"] = [*types, "null"]
        if isinstance(schema.get("enum"), list) and None not in schema["enum"]:
            schema["enum"] = [*schema["enum"], None]
        return schema
    if "anyOf" in schema:
        if {"type": "null"} not in schema["anyOf"]:
            schema["anyOf"] = [*schema["anyOf"], {"type": "null"}]
        return schema
    return {"anyOf": [schema, {"type": "null"}]}  # a bare $ref


def _types(schema: Mapping[str, Any]) -> list[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return [declared]
    if isinstance(declared, list) and all(isinstance(item, str) for item in declared):
        return list(declared)
    return []


def _type_of_values(values: list[Any]) -> str | list[str]:
    found: list[str] = []
    for value in values:
        name = _json_type(value)
        if name not in found:
            found.append(name)
    return found[0] if len(found) == 1 else found


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
