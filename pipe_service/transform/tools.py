"""Chat-completions ``tools`` / ``tool_choice`` → Responses function tools.

* ``{type:"function", function:{name, description, parameters}}`` (and the flat Responses
  shape ``{type:"function", name, …}``) become ``{type:"function", name, description,
  parameters, strict}``.
* Tools are deduplicated by name: a later definition replaces an earlier one in place.
* With ``strict`` on, parameters are rewritten by :mod:`transform_schema`; a schema strict mode
  cannot express is sent unchanged with ``strict: false`` (and a note).
* ``tool_choice``: ``auto``/``none``/``required`` pass; ``{type:"function", function:{name}}``
  becomes ``{type:"function", name}`` and must name a declared tool.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipe_service.transform.errors import RequestTransformError, field_path
from pipe_service.transform.schema import (
    NotStrictableError,
    SchemaTooDeepError,
    to_strict_schema,
)

__all__ = ["ConvertedTools", "convert_tool_choice", "convert_tools"]

_EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}
_CHOICE_MODES = frozenset({"auto", "none", "required"})


@dataclass(frozen=True, slots=True)
class ConvertedTools:
    """Responses function tools in first-seen order, and notes about them."""

    tools: list[dict[str, Any]]
    notes: tuple[str, ...]

    @property
    def names(self) -> frozenset[str]:
        """Names of the converted tools."""
        return frozenset(tool["name"] for tool in self.tools)


def convert_tools(raw_tools: object, *, strict: bool) -> ConvertedTools:
    """Convert the body's ``tools`` (``None`` means no tools)."""
    if raw_tools is None:
        return ConvertedTools(tools=[], notes=())
    if not isinstance(raw_tools, list):
        raise RequestTransformError("tools", "must be a list of tool objects")
    by_name: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    for index, raw in enumerate(raw_tools):
        tool = _convert_tool(raw, field_path("tools", index), strict=strict, notes=notes)
        by_name[tool["name"]] = tool
    return ConvertedTools(tools=list(by_name.values()), notes=tuple(notes))


def convert_tool_choice(raw: object, tool_names: frozenset[str]) -> str | dict[str, Any] | None:
    """Convert ``tool_choice``; ``None`` when absent."""
    if raw is None:
        return None
    if isinstance(raw, str):
        if raw not in _CHOICE_MODES:
            raise RequestTransformError(
                "tool_choice", f"must be auto, none, required or a function choice, got {raw!r}"
            )
        return raw
    if not isinstance(raw, Mapping) or raw.get("type") != "function":
        raise RequestTransformError("tool_choice", "must name a function: {type:'function', …}")
    function = raw.get("function")
    name = function.get("name") if isinstance(function, Mapping) else raw.get("name")
    if not isinstance(name, str) or not name:
        raise RequestTransformError("tool_choice.function.name", "must be a non-empty string")
    if name not in tool_names:
        raise RequestTransformError(
            "tool_choice.function.name", f"names {name!r}, which is not among the tools"
        )
    return {"type": "function", "name": name}


def _convert_tool(raw: object, path: str, *, strict: bool, notes: list[str]) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise RequestTransformError(path, "must be a tool object")
    if raw.get("type", "function") != "function":
        raise RequestTransformError(
            field_path(path, "type"), f"only function tools are accepted, got {raw.get('type')!r}"
        )
    nested = raw.get("function")
    if nested is not None and not isinstance(nested, Mapping):
        raise RequestTransformError(field_path(path, "function"), "must be an object")
    spec: Mapping[str, Any] = nested if nested is not None else raw
    spec_path = field_path(path, "function") if nested is not None else path

    name = spec.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RequestTransformError(field_path(spec_path, "name"), "must be a non-empty string")
    description = spec.get("description")
    if description is not None and not isinstance(description, str):
        raise RequestTransformError(field_path(spec_path, "description"), "must be a string")
    parameters = spec.get("parameters")
    parameters_path = field_path(spec_path, "parameters")
    if parameters is None:
        parameters = _EMPTY_PARAMETERS
    elif not isinstance(parameters, Mapping):
        raise RequestTransformError(parameters_path, "must be a JSON Schema object")

    tool: dict[str, Any] = {"type": "function", "name": name}
    if description:
        tool["description"] = description
    tool["parameters"], tool["strict"] = _parameters(
        parameters, parameters_path, name, strict=strict, notes=notes
    )
    return tool


def _parameters(
    parameters: Mapping[str, Any], path: str, name: str, *, strict: bool, notes: list[str]
) -> tuple[dict[str, Any], bool]:
    if not strict:
        return dict(parameters), False
    try:
        return to_strict_schema(parameters), True
    except SchemaTooDeepError as exc:
        raise RequestTransformError(path, str(exc)) from exc
    except NotStrictableError as exc:
        notes.append(f"tool {name!r} sent non-strict: {exc}")
        return dict(parameters), False
