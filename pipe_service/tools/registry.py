"""The tools one request offers the model: unique, valid names that map back to their specs.

Open WebUI tools, direct tool-server tools and MCP tools can share a function name, and some
names are not valid OpenAI function names (dots, spaces, over 64 characters). The registry
gives every spec an *exposed* name — the name sanitised, and suffixed ``_2``, ``_3`` … when it is
taken — which the model sees, and maps a called name back to the spec's own name and position.
Identical specs (same name and same schema) appear once.

Synopsis::

    registry = ToolRegistry.from_specs(context.specs)
    body = {**body, "tools": registry.chat_tools()}     # the transform makes them strict
    binding = registry.resolve("get_weather_2")         # -> ToolBinding(name="get_weather", …)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

MAX_NAME_CHARS: Final = 64
_INVALID_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class ToolBinding:
    """One offered tool: the name the model sees, the spec's own name and its position."""

    exposed_name: str
    name: str
    spec_index: int
    spec: Mapping[str, Any]


class ToolRegistry:
    """Offered tools of one request, addressed by exposed name."""

    def __init__(self, bindings: Sequence[ToolBinding]) -> None:
        self._bindings = {binding.exposed_name: binding for binding in bindings}
        self._by_name: dict[str, str] = {}
        for binding in bindings:
            self._by_name.setdefault(binding.name, binding.exposed_name)

    @classmethod
    def from_specs(cls, specs: Sequence[Mapping[str, Any]]) -> ToolRegistry:
        """Build from OpenAI function specs (flat, or wrapped as ``{type, function}``).

        Specs without a usable name are skipped: a tool the model cannot call is no tool.
        """
        bindings: list[ToolBinding] = []
        taken: set[str] = set()
        seen: set[str] = set()
        for index, raw in enumerate(specs):
            spec = _function_spec(raw)
            name = spec.get("name") if spec is not None else None
            if spec is None or not isinstance(name, str) or not name.strip():
                continue
            fingerprint = json.dumps(spec, sort_keys=True, default=str)
            if fingerprint in seen:
                continue
            seen.add(fingerprint)
            exposed = _unique(_sanitise(name), taken)
            taken.add(exposed)
            bindings.append(ToolBinding(exposed, name, index, spec))
        return cls(bindings)

    def __len__(self) -> int:
        return len(self._bindings)

    @property
    def bindings(self) -> list[ToolBinding]:
        """The offered tools in spec order."""
        return list(self._bindings.values())

    def resolve(self, exposed_name: str) -> ToolBinding | None:
        """The tool the model called by ``exposed_name``, or ``None`` for an unknown name."""
        return self._bindings.get(exposed_name)

    def exposed_name(self, name: str) -> str | None:
        """The exposed name of the first spec called ``name`` (for ``tool_choice``)."""
        return self._by_name.get(name)

    def chat_tools(self) -> list[dict[str, Any]]:
        """Chat-completions ``tools`` under the exposed names, for the request transform."""
        tools: list[dict[str, Any]] = []
        for binding in self._bindings.values():
            function: dict[str, Any] = {"name": binding.exposed_name}
            description = binding.spec.get("description")
            if isinstance(description, str) and description:
                function["description"] = description
            parameters = binding.spec.get("parameters")
            if isinstance(parameters, Mapping):
                function["parameters"] = parameters
            tools.append({"type": "function", "function": function})
        return tools


def _function_spec(raw: object) -> Mapping[str, Any] | None:
    if not isinstance(raw, Mapping):
        return None
    nested = raw.get("function")
    if isinstance(nested, Mapping):
        return nested
    return raw


def _sanitise(name: str) -> str:
    cleaned = _INVALID_NAME_CHARS.sub("_", name.strip()).strip("_") or "tool"
    return cleaned[:MAX_NAME_CHARS]


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    suffix = 2
    while True:
        tail = f"_{suffix}"
        candidate = name[: MAX_NAME_CHARS - len(tail)] + tail
        if candidate not in taken:
            return candidate
        suffix += 1
