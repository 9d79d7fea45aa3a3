"""A typed, read-only view of a validated ``POST /responses`` body.

Scenarios read the view, never the raw body, so each fact (last user text, attachments, tools,
tool outputs) is derived once and the same way for every scenario.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WEB_SEARCH_TOOL_TYPES = frozenset(
    {"openrouter:web_search", "web_search", "web_search_preview", "web_search_preview_2025_03_11"}
)


@dataclass(frozen=True, slots=True)
class FunctionTool:
    name: str
    parameters: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class TurnRequest:
    """Facts about one request that scenarios branch on."""

    body: dict[str, Any]
    model: str
    fallback_models: tuple[str, ...]
    stream: bool
    items: tuple[dict[str, Any], ...]
    last_user_text: str
    image_count: int
    file_names: tuple[str, ...]
    function_tools: tuple[FunctionTool, ...]
    tool_choice: Any
    parallel_tool_calls: bool
    tool_outputs: tuple[str, ...]
    wants_web_search: bool
    input_text_chars: int

    @property
    def file_count(self) -> int:
        return len(self.file_names)

    @property
    def wants_image_output(self) -> bool:
        modalities = self.body.get("modalities")
        return isinstance(modalities, list) and "image" in modalities

    @property
    def reasoning(self) -> dict[str, Any] | None:
        value = self.body.get("reasoning")
        return value if isinstance(value, dict) else None

    @property
    def reasoning_disabled(self) -> bool:
        reasoning = self.reasoning or {}
        return reasoning.get("enabled") is False or reasoning.get("effort") == "none"

    @property
    def wants_reasoning_summary(self) -> bool:
        return (self.reasoning or {}).get("summary") in {"auto", "concise", "detailed"}

    @property
    def tools_allowed(self) -> bool:
        return bool(self.function_tools) and self.tool_choice != "none"


def input_items(raw_input: Any) -> list[dict[str, Any]]:
    """``input`` as a list of items (a bare string is one user message)."""
    if isinstance(raw_input, str):
        return [{"role": "user", "content": raw_input}]
    return [item for item in raw_input if isinstance(item, dict)]


def _parts(item: dict[str, Any]) -> list[dict[str, Any]]:
    content = item.get("content")
    if isinstance(content, str):
        return [{"type": "input_text", "text": content}]
    if isinstance(content, list):
        return [part for part in content if isinstance(part, dict)]
    return []


def _text_of(item: dict[str, Any]) -> str:
    texts = [str(part.get("text", "")) for part in _parts(item) if "text" in part]
    return " ".join(text for text in texts if text)


def _is_user_message(item: dict[str, Any]) -> bool:
    return item.get("type", "message") == "message" and item.get("role") == "user"


def _output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return " ".join(str(p.get("text", "")) for p in output if isinstance(p, dict))
    return ""


def _function_tools(tools: Any) -> tuple[FunctionTool, ...]:
    found: list[FunctionTool] = []
    for tool in tools if isinstance(tools, list) else []:
        if isinstance(tool, dict) and tool.get("type") == "function" and tool.get("name"):
            params = tool.get("parameters")
            found.append(
                FunctionTool(str(tool["name"]), params if isinstance(params, dict) else None)
            )
    return tuple(found)


def _wants_web_search(body: dict[str, Any]) -> bool:
    tools, plugins = _list(body.get("tools")), _list(body.get("plugins"))
    searches = any(isinstance(t, dict) and t.get("type") in WEB_SEARCH_TOOL_TYPES for t in tools)
    web_plugin = any(
        isinstance(p, dict) and p.get("id") == "web" and p.get("enabled", True) for p in plugins
    )
    return searches or web_plugin


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def build_turn_request(body: dict[str, Any], model: str) -> TurnRequest:
    """Derive the view from a body that already passed validation."""
    items = input_items(body["input"])
    user_indexes = [index for index, item in enumerate(items) if _is_user_message(item)]
    last_user = user_indexes[-1] if user_indexes else -1
    images = 0
    file_names: list[str] = []
    text_chars = len(str(body.get("instructions") or ""))
    for item in items:
        text_chars += len(_text_of(item)) + len(str(item.get("arguments", "")))
        text_chars += len(_output_text(item.get("output")))
        for part in _parts(item):
            if part.get("type") == "input_image":
                images += 1
            elif part.get("type") == "input_file":
                file_names.append(str(part.get("filename") or "file"))
    tool_outputs = tuple(
        _output_text(item.get("output"))
        for item in items[last_user + 1 :]
        if item.get("type") == "function_call_output"
    )
    fallbacks = _list(body.get("models"))
    return TurnRequest(
        body=body,
        model=model,
        fallback_models=tuple(str(m) for m in fallbacks if m != model),
        stream=body.get("stream") is True,
        items=tuple(items),
        last_user_text=_text_of(items[last_user]) if last_user >= 0 else "",
        image_count=images,
        file_names=tuple(file_names),
        function_tools=_function_tools(body.get("tools")),
        tool_choice=body.get("tool_choice", "auto"),
        parallel_tool_calls=body.get("parallel_tool_calls") is not False,
        tool_outputs=tool_outputs,
        wants_web_search=_wants_web_search(body),
        input_text_chars=text_chars,
    )
