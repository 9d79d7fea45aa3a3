"""Request validation like OpenRouter's: a zod-style issue list in a 400 ``invalid_prompt`` body.

Only the checks the service can trip are modelled: JSON syntax, object body, ``model``/``models``,
``input`` shape (replayed reasoning items need ``id`` and ``summary``), ``stream`` type,
``tools`` shape, ``store: true`` and ``previous_response_id``.
"""

from __future__ import annotations

import json
from typing import Any

from pipe_service.simulator.errors import ErrorReply, invalid_prompt, zod_issue


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _invalid_type(path: list[str | int], expected: str, value: Any) -> dict[str, Any]:
    received = _type_name(value)
    message = f"Expected {expected}, received {received}"
    return zod_issue("invalid_type", path, message, expected=expected, received=received)


def _required(path: list[str | int], expected: str) -> dict[str, Any]:
    return zod_issue("invalid_type", path, "Required", expected=expected, received="undefined")


def _model_issues(body: dict[str, Any]) -> list[dict[str, Any]]:
    model, models = body.get("model"), body.get("models")
    if model is None and not models:
        return [_required(["model"], "string")]
    if model is not None and not isinstance(model, str):
        return [_invalid_type(["model"], "string", model)]
    if models is not None and not (
        isinstance(models, list) and all(isinstance(m, str) for m in models)
    ):
        return [_invalid_type(["models"], "array", models)]
    return []


def _input_issues(body: dict[str, Any]) -> list[dict[str, Any]]:
    if "input" not in body:
        return [_required(["input"], "string | array")]
    value = body["input"]
    if isinstance(value, str):
        return []
    if not isinstance(value, list):
        return [_invalid_type(["input"], "string | array", value)]
    issues: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            issues.append(_invalid_type(["input", index], "object", item))
        elif item.get("type") == "reasoning":
            # Replayed reasoning: `id` and `summary` are required (reference §1.2).
            if not isinstance(item.get("id"), str):
                issues.append(_required(["input", index, "id"], "string"))
            if not isinstance(item.get("summary"), list):
                issues.append(_required(["input", index, "summary"], "array"))
    return issues


def _tool_issues(body: dict[str, Any]) -> list[dict[str, Any]]:
    tools = body.get("tools")
    if tools is None:
        return []
    if not isinstance(tools, list):
        return [_invalid_type(["tools"], "array", tools)]
    issues: list[dict[str, Any]] = []
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict):
            issues.append(_invalid_type(["tools", index], "object", tool))
        elif tool.get("type") == "function" and not isinstance(tool.get("name"), str):
            issues.append(_required(["tools", index, "name"], "string"))
    return issues


def _stateful_issues(body: dict[str, Any]) -> list[dict[str, Any]]:
    issues: list[dict[str, Any]] = []
    if body.get("store") is True:
        issues.append(
            zod_issue(
                "invalid_literal",
                ["store"],
                "Invalid literal value, expected false",
                expected=False,
                received=True,
            )
        )
    if body.get("previous_response_id") is not None:
        issues.append(_invalid_type(["previous_response_id"], "null", body["previous_response_id"]))
    return issues


def parse_and_validate(raw: bytes) -> dict[str, Any] | ErrorReply:
    """The request body as a dict, or the 400 reply OpenRouter would send."""
    try:
        body = json.loads(raw or b"null")
    except json.JSONDecodeError as error:
        return invalid_prompt([zod_issue("custom", [], f"Invalid JSON: {error.msg}")])
    except UnicodeDecodeError:
        return invalid_prompt([zod_issue("custom", [], "Invalid JSON: body is not UTF-8")])
    if not isinstance(body, dict):
        return invalid_prompt([_invalid_type([], "object", body)])
    issues = _model_issues(body) + _input_issues(body) + _tool_issues(body)
    if "stream" in body and not isinstance(body["stream"], bool | None):
        issues.append(_invalid_type(["stream"], "boolean", body["stream"]))
    issues += _stateful_issues(body)
    return invalid_prompt(issues) if issues else body
