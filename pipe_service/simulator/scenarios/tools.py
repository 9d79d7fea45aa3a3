"""Function calling: ``sim/tool-call`` and tool-capable catalog models.

First turn: call the request's own function tools (one, or the first two when
``parallel_tool_calls`` is not false; ``tool_choice: {type: function, name}`` picks the tool),
with arguments filled from each tool's JSON schema. A turn whose input already holds
``function_call_output`` items after the last user message is answered with text quoting them.
"""

from __future__ import annotations

from typing import Any

from pipe_service.simulator.request_view import FunctionTool, TurnRequest
from pipe_service.simulator.scenarios.base import (
    COMPLETED,
    Ending,
    ScenarioContext,
    add_text,
    chunk_chars,
    quoted,
    text_answer,
)
from pipe_service.simulator.sse import compact_json
from pipe_service.simulator.stream_writer import StreamWriter

PARALLEL_CALLS = 2
ARGUMENT_DELTA_CHARS = 12
SAMPLE_STRING = "Paris"


def sample_value(schema: Any) -> Any:
    """A value valid for a simple JSON schema (first enum value, "Paris", 1, true, [], {...})."""
    if not isinstance(schema, dict):
        return SAMPLE_STRING
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind in {"integer", "number"}:
        return max(1, schema.get("minimum", 1)) if kind == "integer" else 1
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return sample_arguments(schema)
    return SAMPLE_STRING


def sample_arguments(schema: dict[str, Any] | None) -> dict[str, Any]:
    """Fill the required properties (all properties when none are marked required)."""
    properties = (schema or {}).get("properties")
    if not isinstance(properties, dict):
        return {}
    required = (schema or {}).get("required")
    names = [n for n in required if n in properties] if isinstance(required, list) else properties
    return {name: sample_value(properties[name]) for name in names}


def tools_to_call(request: TurnRequest) -> list[FunctionTool]:
    choice = request.tool_choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        named = [tool for tool in request.function_tools if tool.name == choice.get("name")]
        return named[:1]
    count = PARALLEL_CALLS if request.parallel_tool_calls else 1
    return list(request.function_tools[:count])


def should_call_tools(request: TurnRequest) -> bool:
    return request.tools_allowed and not request.tool_outputs


def add_function_calls(context: ScenarioContext, out: StreamWriter) -> None:
    for tool in tools_to_call(context.request):
        arguments = compact_json(sample_arguments(tool.parameters))
        out.add_function_call(tool.name, chunk_chars(arguments, ARGUMENT_DELTA_CHARS))


def answer_text(context: ScenarioContext) -> str:
    """The text answer, quoting tool outputs on a tool-loop turn."""
    outputs = context.request.tool_outputs
    if outputs:
        return text_answer(context, f"Tool results: {'; '.join(quoted(o) for o in outputs)}.")
    return text_answer(context)


def call_tools_or_answer(context: ScenarioContext, out: StreamWriter) -> Ending:
    if should_call_tools(context.request):
        add_function_calls(context, out)
    else:
        add_text(context, out, answer_text(context))
    return COMPLETED
