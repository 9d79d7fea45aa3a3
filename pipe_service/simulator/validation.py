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
            continue
        if item.get("type") == "reasoning":
            # Replayed reasoning: `id` and `summary` are required (reference §1.2).
            if not isinstance(item.get("id"), str):
                issues.append(_required(["input", index, "id"], "string"))
            if not isinstance(item.get("summary"), list):
                issues.append(_required(["input", index, "summary"], "array"))
        content = item.get("content")
        if isinstance(content, list):
            for part_index, part in enumerate(content):
                issues += _media_part_issues(["input", index, "content", part_index], part)
    return issues


_AUDIO_FORMATS = ("mp3", "wav")


def _media_part_issues(path: list[str | int], part: Any) -> list[dict[str, Any]]:
    """The shapes of ``input_image``/``input_file``/``input_audio``/``input_video`` parts."""
    if not isinstance(part, dict):
        return [_invalid_type(path, "object", part)]
    kind = part.get("type")
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str):
            return [_invalid_type([*path, "image_url"], "string", url)]
        if not url.startswith(("https://", "http://", "data:image/")):
            return [zod_issue("custom", [*path, "image_url"], "Expected an image URL")]
    elif kind == "input_file":
        if not any(isinstance(part.get(key), str) for key in ("file_data", "file_url", "file_id")):
            return [zod_issue("custom", path, "One of file_data, file_url or file_id is required")]
        data = part.get("file_data")
        if isinstance(data, str) and not data.startswith("data:"):
            return [zod_issue("custom", [*path, "file_data"], "Expected a data: URL")]
    elif kind == "input_audio":
        audio = part.get("input_audio")
        if not isinstance(audio, dict):
            return [_required([*path, "input_audio"], "object")]
        if not isinstance(audio.get("data"), str):
            return [_required([*path, "input_audio", "data"], "string")]
        if audio.get("format") not in _AUDIO_FORMATS:
            return [
                zod_issue(
                    "invalid_enum_value",
                    [*path, "input_audio", "format"],
                    "Invalid enum value. Expected 'mp3' | 'wav'",
                    options=list(_AUDIO_FORMATS),
                    received=audio.get("format"),
                )
            ]
    elif kind == "input_video" and not isinstance(part.get("video_url"), str):
        return [_invalid_type([*path, "video_url"], "string", part.get("video_url"))]
    return []


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
