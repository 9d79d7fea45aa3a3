"""Open WebUI chat messages → Responses ``instructions`` and ``input[]`` items.

Rules (see docs/transform.md):

* ``system`` and ``developer`` messages are joined, in order, with a blank line into
  ``instructions``; their content must be text.
* ``user`` messages become ``{type:"message", role:"user", content:[input_* parts]}``.
* ``assistant`` text becomes a completed output message with a stable id derived from its
  position and text; its ``tool_calls`` become ``function_call`` items.
* stored items named by the assistant message's hidden markers (replay) go right before it;
* ``tool`` messages become ``function_call_output`` items. Calls without an output and outputs
  without a call are dropped (the Responses API rejects unpaired halves).
* Image, audio and video parts for a model without that input modality are replaced by a short
  ``input_text`` placeholder (and a note), not rejected: Open WebUI resends the whole history,
  so an image from an earlier turn must not break a chat after a switch to a text-only model.
  File parts are always kept: OpenRouter's file-parser plugin reads PDFs for any model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipe_service.catalog.capabilities import ModelCapabilities
from pipe_service.transform.errors import RequestTransformError, field_path
from pipe_service.transform.history_hygiene import clean_assistant_text

__all__ = ["ConvertedMessages", "convert_messages", "omitted_placeholder", "placeholder_kind"]

_INSTRUCTION_ROLES = frozenset({"system", "developer"})
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
_IMAGE_DETAILS = frozenset({"auto", "low", "high", "original"})
_AUDIO_FORMATS = frozenset({"mp3", "wav"})
_TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text"})
_MEDIA_KINDS = ("image", "audio", "video")


@dataclass(frozen=True, slots=True)
class ConvertedMessages:
    """``instructions`` (``None`` when there were no system messages), items, and notes."""

    instructions: str | None
    input: list[dict[str, Any]]
    notes: tuple[str, ...]


def convert_messages(
    messages: object,
    *,
    model: ModelCapabilities,
    replayed: Mapping[int, Sequence[dict[str, Any]]] | None = None,
) -> ConvertedMessages:
    """Convert the chat body's ``messages`` list; raises :class:`RequestTransformError`.

    ``replayed``: stored items (reasoning, tool calls and results) to put before the answer of
    the assistant message at each index (see :mod:`pipe_service.persistence.replay`).
    """
    if not isinstance(messages, list):
        raise RequestTransformError("messages", "must be a list of message objects")
    instructions: list[str] = []
    items: list[dict[str, Any]] = []
    notes: list[str] = []
    for index, message in enumerate(messages):
        path = field_path("messages", index)
        if not isinstance(message, Mapping):
            raise RequestTransformError(path, "must be an object with a 'role'")
        role = message.get("role")
        if not isinstance(role, str) or role not in _ROLES:
            raise RequestTransformError(
                field_path(path, "role"),
                f"must be one of {', '.join(sorted(_ROLES))}, got {role!r}",
            )
        content_path = field_path(path, "content")
        if role in _INSTRUCTION_ROLES:
            text = _text_content(message.get("content"), content_path)
            if text:
                instructions.append(text)
        elif role == "user":
            parts = _user_parts(message.get("content"), content_path, model, notes)
            items.append({"type": "message", "role": "user", "content": parts})
        elif role == "assistant":
            if replayed:
                items.extend(replayed.get(index, ()))
            items.extend(_assistant_items(message, path, index))
        else:
            items.append(_tool_output(message, path))
    items = _drop_unpaired_tool_items(items, notes)
    if not items:
        raise RequestTransformError(
            "messages", "must contain at least one user, assistant or tool message"
        )
    return ConvertedMessages(
        instructions="\n\n".join(instructions) if instructions else None,
        input=items,
        notes=tuple(notes),
    )


def _text_content(content: object, path: str) -> str:
    """Text of a message whose content may only be text (system, developer, tool)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise RequestTransformError(path, "must be a string or a list of text parts")
    texts: list[str] = []
    for index, part in enumerate(content):
        part_path = field_path(path, index)
        part, part_type = _typed_part(part, part_path)
        if part_type not in _TEXT_PART_TYPES:
            raise RequestTransformError(
                field_path(part_path, "type"),
                f"only text parts are allowed here, got {part_type!r}",
            )
        texts.append(_required_str(part, "text", part_path, allow_empty=True))
    return "\n".join(texts)


def _user_parts(
    content: object, path: str, model: ModelCapabilities, notes: list[str]
) -> list[dict[str, Any]]:
    if content is None:
        return [{"type": "input_text", "text": ""}]
    if isinstance(content, str):
        return [{"type": "input_text", "text": content}]
    if not isinstance(content, list):
        raise RequestTransformError(path, "must be a string or a list of content parts")
    parts: list[dict[str, Any]] = []
    for index, part in enumerate(content):
        parts.append(_user_part(part, field_path(path, index), model, notes))
    return parts


def _user_part(
    raw_part: object, path: str, model: ModelCapabilities, notes: list[str]
) -> dict[str, Any]:
    part, part_type = _typed_part(raw_part, path)
    if part_type in ("text", "input_text"):
        return {"type": "input_text", "text": _required_str(part, "text", path, allow_empty=True)}
    if part_type in ("image_url", "input_image"):
        url, detail = _image(part, path)
        if not model.input_image:
            return _placeholder("image", model, notes)
        return {"type": "input_image", "image_url": url, "detail": detail}
    if part_type == "input_audio":
        audio = _required_mapping(part, "input_audio", path)
        audio_path = field_path(path, "input_audio")
        data = _required_str(audio, "data", audio_path)
        audio_format = _required_str(audio, "format", audio_path).lower()
        if audio_format not in _AUDIO_FORMATS:
            raise RequestTransformError(
                field_path(audio_path, "format"), f"must be mp3 or wav, got {audio_format!r}"
            )
        if not model.input_audio:
            return _placeholder("audio", model, notes)
        return {"type": "input_audio", "input_audio": {"data": data, "format": audio_format}}
    if part_type in ("video_url", "input_video"):
        video = part.get("video_url")
        video_url: object = video.get("url") if isinstance(video, Mapping) else video
        if not isinstance(video_url, str) or not video_url:
            raise RequestTransformError(field_path(path, "video_url"), "must hold a video URL")
        if not model.input_video:
            return _placeholder("video", model, notes)
        return {"type": "input_video", "video_url": video_url}
    if part_type in ("file", "input_file"):
        return _file(part, path)
    raise RequestTransformError(
        field_path(path, "type"), f"unknown content part type {part_type!r}"
    )


def _image(part: Mapping[str, Any], path: str) -> tuple[str, str]:
    image = part.get("image_url")
    detail: object = part.get("detail")
    if isinstance(image, Mapping):
        detail = image.get("detail", detail)
        image = image.get("url")
    if not isinstance(image, str) or not image:
        raise RequestTransformError(field_path(path, "image_url"), "must hold an image URL")
    if detail is None:
        detail = "auto"
    if not isinstance(detail, str) or detail not in _IMAGE_DETAILS:
        raise RequestTransformError(
            field_path(path, "image_url.detail"), f"must be auto, low, high or original: {detail!r}"
        )
    return image, detail


def _file(part: Mapping[str, Any], path: str) -> dict[str, Any]:
    # Chat-completions nests the fields under "file"; Responses puts them on the part.
    nested = part.get("file")
    source: Mapping[str, Any] = nested if isinstance(nested, Mapping) else part
    source_path = field_path(path, "file") if isinstance(nested, Mapping) else path
    converted: dict[str, Any] = {"type": "input_file"}
    for key in ("file_data", "file_url", "file_id", "filename"):
        value = source.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise RequestTransformError(field_path(source_path, key), "must be a non-empty string")
        converted[key] = value
    if not converted.keys() & {"file_data", "file_url", "file_id"}:
        raise RequestTransformError(source_path, "needs one of file_data, file_url or file_id")
    return converted


def omitted_placeholder(kind: str) -> str:
    """The text that stands in for a ``kind`` part the model cannot read."""
    return f"[{kind} omitted: this model cannot read {kind}]"


def placeholder_kind(part: Mapping[str, Any]) -> str | None:
    """``image``/``audio``/``video`` when ``part`` is an :func:`omitted_placeholder`."""
    if part.get("type") != "input_text":
        return None
    text = part.get("text")
    for kind in _MEDIA_KINDS:
        if text == omitted_placeholder(kind):
            return kind
    return None


def _placeholder(kind: str, model: ModelCapabilities, notes: list[str]) -> dict[str, Any]:
    notes.append(f"{kind} omitted: {model.slug} does not accept {kind} input")
    return {"type": "input_text", "text": omitted_placeholder(kind)}


def _assistant_items(message: Mapping[str, Any], path: str, index: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    content = _assistant_content(message.get("content"), field_path(path, "content"))
    if content:
        digest = _stable_digest(index, json.dumps(content, sort_keys=True))
        items.append(
            {
                "type": "message",
                "id": f"msg_{digest}",
                "role": "assistant",
                "status": "completed",
                "content": content,
            }
        )
    calls = message.get("tool_calls")
    if calls is None:
        return items
    calls_path = field_path(path, "tool_calls")
    if not isinstance(calls, list):
        raise RequestTransformError(calls_path, "must be a list of tool calls")
    for call_index, call in enumerate(calls):
        items.append(_function_call(call, field_path(calls_path, call_index)))
    return items


def _assistant_content(content: object, path: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        content = clean_assistant_text(content)
        return [{"type": "output_text", "text": content, "annotations": []}] if content else []
    if not isinstance(content, list):
        raise RequestTransformError(path, "must be a string or a list of text parts")
    converted: list[dict[str, Any]] = []
    for index, part in enumerate(content):
        part_path = field_path(path, index)
        part, part_type = _typed_part(part, part_path)
        if part_type in _TEXT_PART_TYPES:
            text = clean_assistant_text(_required_str(part, "text", part_path, allow_empty=True))
            if text:
                converted.append({"type": "output_text", "text": text, "annotations": []})
        elif part_type == "refusal":
            refusal = _required_str(part, "refusal", part_path)
            converted.append({"type": "refusal", "refusal": refusal})
        else:
            raise RequestTransformError(
                field_path(part_path, "type"),
                f"assistant content parts must be text or refusal, got {part_type!r}",
            )
    return converted


def _function_call(call: object, path: str) -> dict[str, Any]:
    if not isinstance(call, Mapping):
        raise RequestTransformError(path, "must be a tool call object")
    call_type = call.get("type", "function")
    if call_type != "function":
        raise RequestTransformError(field_path(path, "type"), "only 'function' tool calls exist")
    call_id = _required_str(call, "id", path)
    function = _required_mapping(call, "function", path)
    function_path = field_path(path, "function")
    name = _required_str(function, "name", function_path)
    arguments = function.get("arguments")
    if arguments is None:
        arguments = "{}"
    elif isinstance(arguments, Mapping):
        arguments = json.dumps(arguments, ensure_ascii=False)
    elif not isinstance(arguments, str):
        raise RequestTransformError(
            field_path(function_path, "arguments"), "must be a JSON string or an object"
        )
    return {
        "type": "function_call",
        "id": f"fc_{_stable_digest(call_id)}",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": "completed",
    }


def _tool_output(message: Mapping[str, Any], path: str) -> dict[str, Any]:
    call_id = _required_str(message, "tool_call_id", path)
    output = _text_content(message.get("content"), field_path(path, "content"))
    return {"type": "function_call_output", "call_id": call_id, "output": output}


def _drop_unpaired_tool_items(
    items: list[dict[str, Any]], notes: list[str]
) -> list[dict[str, Any]]:
    calls = {item["call_id"] for item in items if item["type"] == "function_call"}
    outputs = {item["call_id"] for item in items if item["type"] == "function_call_output"}
    kept: list[dict[str, Any]] = []
    for item in items:
        if item["type"] == "function_call" and item["call_id"] not in outputs:
            notes.append(f"dropped tool call {item['call_id']!r}: it has no tool result")
        elif item["type"] == "function_call_output" and item["call_id"] not in calls:
            notes.append(f"dropped tool result {item['call_id']!r}: it answers no tool call")
        else:
            kept.append(item)
    return kept


def _stable_digest(*parts: object) -> str:
    # Same history → same ids, so replays and provider caches see identical input.
    joined = "\x1f".join(str(part) for part in parts)
    return hashlib.sha256(joined.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _typed_part(part: object, path: str) -> tuple[Mapping[str, Any], str]:
    if not isinstance(part, Mapping):
        raise RequestTransformError(path, "must be a content part object with a 'type'")
    part_type = part.get("type")
    if not isinstance(part_type, str):
        raise RequestTransformError(field_path(path, "type"), "must be a string")
    return part, part_type


def _required_str(
    source: Mapping[str, Any], key: str, path: str, *, allow_empty: bool = False
) -> str:
    value = source.get(key)
    if not isinstance(value, str):
        raise RequestTransformError(field_path(path, key), "must be a string")
    if not value and not allow_empty:
        raise RequestTransformError(field_path(path, key), "must not be empty")
    return value


def _required_mapping(source: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    value = source.get(key)
    if not isinstance(value, Mapping):
        raise RequestTransformError(field_path(path, key), "must be an object")
    return value
