"""Tools, tool_choice, parallel_tool_calls and the strict schema rewrite."""

from __future__ import annotations

from typing import Any

import pytest

from pipe_service.transform.options import TransformOptions
from pipe_service.transform.payload import RequestTransformError, transform_request
from pipe_service.transform.schema import (
    MAX_SCHEMA_DEPTH,
    NotStrictableError,
    to_strict_schema,
)
from tests.transform.models import BARE, FULL, body, build, model

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
    "required": ["city"],
}


def tool(
    name: str = "weather", parameters: Any = WEATHER, description: Any = "d"
) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "description": description,
                                             "parameters": parameters}}  # fmt: skip


def test_function_tool_becomes_flat_strict_responses_tool() -> None:
    tools = build(body(tools=[tool()]))["tools"]
    assert tools == [
        {
            "type": "function",
            "name": "weather",
            "description": "d",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "unit": {"type": ["string", "null"], "enum": ["c", "f", None]},
                },
                "required": ["city", "unit"],
                "additionalProperties": False,
            },
            "strict": True,
        }
    ]


def test_strict_off_sends_parameters_unchanged() -> None:
    tools = build(body(tools=[tool()]), options=TransformOptions(strict_tools=False))["tools"]
    assert tools[0]["parameters"] == WEATHER
    assert tools[0]["strict"] is False


def test_missing_parameters_become_an_empty_object_schema() -> None:
    tools = build(body(tools=[{"type": "function", "function": {"name": "ping"}}]))["tools"]
    assert tools[0]["parameters"] == {
        "type": "object", "properties": {}, "required": [], "additionalProperties": False,
    }  # fmt: skip


def test_duplicate_tool_names_keep_the_latest_definition() -> None:
    tools = build(body(tools=[tool(description="old"), tool("other"), tool(description="new")]))
    assert [(t["name"], t.get("description")) for t in tools["tools"]] == [
        ("weather", "new"),
        ("other", "d"),
    ]


def test_tools_are_dropped_with_note_for_model_without_tool_calling() -> None:
    result = transform_request(
        body(tools=[tool()], tool_choice="required"), model=BARE, options=TransformOptions()
    )
    assert "tools" not in result.payload
    assert "tool_choice" not in result.payload
    assert result.notes == ("tools dropped: acme/bare does not support tool calling",)


def test_unstrictable_schema_is_sent_non_strict_with_note() -> None:
    free_map = {
        "type": "object",
        "properties": {"tags": {"type": "object", "additionalProperties": True}},
    }
    result = transform_request(body(tools=[tool(parameters=free_map)]), model=FULL,
                               options=TransformOptions())  # fmt: skip
    assert result.payload["tools"][0]["strict"] is False
    assert result.payload["tools"][0]["parameters"] == free_map
    assert result.notes[0].startswith("tool 'weather' sent non-strict")


@pytest.mark.parametrize("choice", ["auto", "none", "required"])
def test_tool_choice_modes_pass_through(choice: str) -> None:
    assert build(body(tools=[tool()], tool_choice=choice))["tool_choice"] == choice


def test_named_tool_choice_is_flattened() -> None:
    choice = {"type": "function", "function": {"name": "weather"}}
    assert build(body(tools=[tool()], tool_choice=choice))["tool_choice"] == {
        "type": "function",
        "name": "weather",
    }


def test_parallel_tool_calls_sent_when_model_supports_it() -> None:
    payload = build(body(tools=[tool()], parallel_tool_calls=False))
    assert payload["parallel_tool_calls"] is False


def test_parallel_tool_calls_dropped_when_model_lacks_it() -> None:
    payload = build(
        body(tools=[tool()], parallel_tool_calls=True), model(parallel_tool_calls=False)
    )
    assert "parallel_tool_calls" not in payload


def test_parallel_tool_calls_dropped_without_tools() -> None:
    assert "parallel_tool_calls" not in build(body(parallel_tool_calls=True))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"tools": {"a": 1}}, "tools"),
        ({"tools": ["weather"]}, "tools[0]"),
        ({"tools": [{"type": "retrieval"}]}, "tools[0].type"),
        ({"tools": [{"type": "function", "function": "x"}]}, "tools[0].function"),
        ({"tools": [{"type": "function", "function": {"name": ""}}]}, "tools[0].function.name"),
        ({"tools": [tool(parameters="x")]}, "tools[0].function.parameters"),
        ({"tools": [tool(description=5)]}, "tools[0].function.description"),
        ({"tools": [tool()], "tool_choice": "always"}, "tool_choice"),
        ({"tools": [tool()], "tool_choice": {"type": "function", "function": {"name": "nope"}}},
         "tool_choice.function.name"),
        ({"tools": [tool()], "tool_choice": 3}, "tool_choice"),
        ({"tools": [tool()], "parallel_tool_calls": "yes"}, "parallel_tool_calls"),
    ],
)  # fmt: skip
def test_invalid_tools_raise_with_json_path(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(RequestTransformError) as caught:
        build(body(**fields))
    assert caught.value.field == field


def nest(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"x": schema}, "required": ["x"]}
    return schema


def test_too_deep_schema_is_a_request_error() -> None:
    with pytest.raises(RequestTransformError) as caught:
        build(body(tools=[tool(parameters=nest(MAX_SCHEMA_DEPTH + 2))]))
    assert caught.value.field == "tools[0].function.parameters"


# The strict rewrite itself, rule by rule.


def test_strict_inlines_all_of() -> None:
    schema = {"allOf": [{"type": "object", "properties": {"a": {"type": "string"}},
                         "required": ["a"]},
                        {"properties": {"b": {"type": "integer"}}, "required": ["b"]}]}  # fmt: skip
    assert to_strict_schema(schema) == {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
        "additionalProperties": False,
    }


def test_strict_infers_object_type_from_properties() -> None:
    assert to_strict_schema({"properties": {}})["type"] == "object"


def test_strict_infers_array_type_and_rewrites_items() -> None:
    schema = {"type": "object", "properties": {"xs": {"items": {"properties": {}}}},
              "required": ["xs"]}  # fmt: skip
    xs = to_strict_schema(schema)["properties"]["xs"]
    assert xs == {"type": "array", "items": {"type": "object", "properties": {}, "required": [],
                                              "additionalProperties": False}}  # fmt: skip


def test_strict_infers_type_from_enum_values() -> None:
    schema = {"type": "object", "properties": {"n": {"enum": [1, 2]}}, "required": ["n"]}
    assert to_strict_schema(schema)["properties"]["n"] == {"enum": [1, 2], "type": "integer"}


def test_strict_makes_optional_any_of_nullable() -> None:
    schema = {"type": "object", "properties": {"v": {"oneOf": [{"type": "string"},
                                                                {"type": "integer"}]}}}  # fmt: skip
    assert to_strict_schema(schema)["properties"]["v"] == {
        "anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]
    }


def test_strict_wraps_optional_ref_in_nullable_any_of() -> None:
    schema = {"type": "object", "properties": {"p": {"$ref": "#/$defs/P"}},
              "$defs": {"P": {"type": "object", "properties": {}}}}  # fmt: skip
    strict = to_strict_schema(schema)
    assert strict["properties"]["p"] == {"anyOf": [{"$ref": "#/$defs/P"}, {"type": "null"}]}
    assert strict["$defs"]["P"]["additionalProperties"] is False


def test_strict_does_not_modify_its_input() -> None:
    original = {"type": "object", "properties": {"a": {"type": "string"}}}
    to_strict_schema(original)
    assert original == {"type": "object", "properties": {"a": {"type": "string"}}}


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string"},
        {"type": "object", "properties": {"a": {}}},
        {"type": "object", "properties": {"a": {"type": "array"}}},
        {"type": "object", "additionalProperties": {"type": "string"}},
        {"type": "object", "properties": {"a": {"type": "date"}}},
        {"type": "object", "properties": {"a": True}},
    ],
)
def test_inexpressible_schemas_are_not_strictable(schema: dict[str, Any]) -> None:
    with pytest.raises(NotStrictableError):
        to_strict_schema(schema)
