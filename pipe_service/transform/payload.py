"""Open WebUI chat body (chat-completions style) → OpenRouter Responses request payload.

This is the public face of the request transform; the rules live in the ``transform_*``
modules next to it and in docs/transform.md:

* :mod:`transform_messages`: messages → ``instructions`` and ``input[]``;
* :mod:`transform_tools` / :mod:`transform_schema`: tools, ``tool_choice``, strict schemas;
* :mod:`transform_params`: sampling, output limit, ``text``, ``reasoning``, identifiers;
* :mod:`provider_routing`: ``provider`` (global, per-model and user routing, ZDR), ``models``
  fallbacks and ``trace``;
* :mod:`model_family`: Claude ``cache_control``, Gemini thinking budgets;
* :mod:`transform_options`: ``TransformOptions``, ``UserOverrides``, ``RequestIdentity``.

Any invalid input raises :class:`RequestTransformError` (the caller answers 400); nothing else
escapes. Client-supplied ``user``, ``session_id``, ``metadata``, ``store`` and chat-only
fields (``seed``, ``stop``, ``n``, ``logit_bias``, ``stream_options``…) are never forwarded.

Synopsis::

    payload = build_responses_payload(
        body, model=registry.require(slug), options=options, user=overrides, identity=identity
    )
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipe_service.catalog.capabilities import ModelCapabilities
from pipe_service.transform.errors import RequestTransformError
from pipe_service.transform.messages import convert_messages
from pipe_service.transform.model_family import apply_gemini_budget, cache_fields
from pipe_service.transform.options import (
    RequestIdentity,
    TransformOptions,
    UserOverrides,
)
from pipe_service.transform.params import (
    identifier_fields,
    max_output_tokens,
    reasoning_fields,
    sampling_fields,
    text_field,
)
from pipe_service.transform.provider_routing import (
    Offered,
    fallback_models,
    provider_field,
    trace_field,
)
from pipe_service.transform.tools import convert_tool_choice, convert_tools

__all__ = [
    "RequestIdentity",
    "RequestTransformError",
    "TransformOptions",
    "TransformResult",
    "UserOverrides",
    "add_file_parser",
    "build_responses_payload",
    "build_task_payload",
    "transform_request",
]

_NO_OVERRIDES = UserOverrides()


@dataclass(frozen=True, slots=True)
class TransformResult:
    """The Responses payload plus notes on what was dropped or degraded (for a status line)."""

    payload: dict[str, Any]
    notes: tuple[str, ...]


def build_responses_payload(
    body: Mapping[str, Any],
    *,
    model: ModelCapabilities,
    options: TransformOptions,
    user: UserOverrides | None = None,
    identity: RequestIdentity | None = None,
    replayed: Mapping[int, Sequence[dict[str, Any]]] | None = None,
    offered: Offered | None = None,
) -> dict[str, Any]:
    """The Responses request for a chat turn; see :func:`transform_request` for the notes."""
    return transform_request(
        body,
        model=model,
        options=options,
        user=user,
        identity=identity,
        replayed=replayed,
        offered=offered,
    ).payload


def transform_request(
    body: Mapping[str, Any],
    *,
    model: ModelCapabilities,
    options: TransformOptions,
    user: UserOverrides | None = None,
    identity: RequestIdentity | None = None,
    replayed: Mapping[int, Sequence[dict[str, Any]]] | None = None,
    offered: Offered | None = None,
) -> TransformResult:
    """Build the Responses request for a chat turn and say what was left out.

    ``replayed``: stored items to insert before assistant messages, by message index.
    ``offered`` says whether a model id is offered here; fallback models a request names
    itself must be (so a fallback cannot reach a model the catalog filters hide).
    """
    body = _require_mapping(body)
    user = user or _NO_OVERRIDES
    notes: list[str] = []
    payload = _base_payload(body, model, options, user, notes, offered, replayed)
    payload["stream"] = _stream_flag(body)

    tools = convert_tools(body.get("tools"), strict=options.strict_tools)
    notes.extend(tools.notes)
    tool_choice = convert_tool_choice(body.get("tool_choice"), tools.names)
    parallel = _optional_bool(body, "parallel_tool_calls")
    if tools.tools and not model.tools:
        notes.append(f"tools dropped: {model.slug} does not support tool calling")
    elif tools.tools:
        payload["tools"] = tools.tools
        if tool_choice is not None:
            payload["tool_choice"] = tool_choice
        if parallel is not None and model.parallel_tool_calls:
            payload["parallel_tool_calls"] = parallel

    text = text_field(body, model, notes)
    if text:
        payload["text"] = text
    if model.output_image:
        # OpenRouter draws only when asked for the image modality.
        payload["modalities"] = (
            ["image", "text"] if "text" in model.output_modalities else ["image"]
        )
    payload.update(reasoning_fields(body, model, options, user))
    apply_gemini_budget(payload, model, options)
    payload.update(identifier_fields(options, identity, notes))
    payload.update(cache_fields(model, options))
    _add_web_search(payload, model, options, user)
    _add_server_tools(payload, model, options)
    _add_plugins(payload, options)
    return TransformResult(payload=payload, notes=tuple(notes))


def build_task_payload(
    body: Mapping[str, Any],
    *,
    model: ModelCapabilities,
    options: TransformOptions,
    task: str,
    user: UserOverrides | None = None,
    offered: Offered | None = None,
) -> dict[str, Any]:
    """The Responses request for an Open WebUI task (title, tags, follow-ups, …).

    Always non-streaming; reasoning effort is ``options.task_reasoning_effort`` (no summary,
    no encrypted content); no tools, no text format, no plugins, no identifiers. Provider
    routing and fallback models still apply (a ZDR policy must cover tasks too), so ``user``
    is read only for ``request_zdr``.
    """
    if not isinstance(task, str) or not task.strip():
        raise RequestTransformError("task", "must name the Open WebUI task")
    body = _require_mapping(body)
    payload = _base_payload(body, model, options, user or _NO_OVERRIDES, [], offered)
    payload["stream"] = False
    if model.reasoning:
        payload["reasoning"] = {"effort": options.task_reasoning_effort}
    return payload


def _base_payload(
    body: Mapping[str, Any],
    model: ModelCapabilities,
    options: TransformOptions,
    user: UserOverrides,
    notes: list[str],
    offered: Offered | None,
    replayed: Mapping[int, Sequence[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Fields shared by chat and task requests: model, input, sampling, limit, routing."""
    messages = convert_messages(body.get("messages"), model=model, replayed=replayed)
    notes.extend(messages.notes)
    input_items = messages.input
    # The API is stateless: OpenRouter rejects store=true, so say false explicitly.
    payload: dict[str, Any] = {"model": model.slug, "store": False}
    fallbacks = fallback_models(body, options, model, offered=offered)
    if fallbacks:
        payload["models"] = fallbacks
    provider = provider_field(options, user, model)
    if provider is not None:
        payload["provider"] = provider
    trace = trace_field(body)
    if trace is not None:
        payload["trace"] = trace
    if messages.instructions is not None:
        payload["instructions"] = messages.instructions
    payload["input"] = input_items
    payload.update(sampling_fields(body, model))
    limit = max_output_tokens(body, model, options)
    if limit is not None:
        payload["max_output_tokens"] = limit
    return payload


def _add_web_search(
    payload: dict[str, Any],
    model: ModelCapabilities,
    options: TransformOptions,
    user: UserOverrides,
) -> None:
    # Tool mode needs a tool-calling model; other models get the model-agnostic plugin.
    if not options.web_search_enabled or user.web_search is False:
        return
    max_results = options.web_search_max_results
    if options.web_search_mode == "tool" and model.tools:
        tool = {"type": "openrouter:web_search", "parameters": {"max_results": max_results}}
        payload.setdefault("tools", []).append(tool)
    else:
        payload.setdefault("plugins", []).append({"id": "web", "max_results": max_results})


def _add_server_tools(
    payload: dict[str, Any], model: ModelCapabilities, options: TransformOptions
) -> None:
    # OpenRouter runs these itself; they are tools, so only tool-calling models get them.
    if not model.tools:
        return
    enabled = {
        "openrouter:web_fetch": options.web_fetch_enabled,
        "openrouter:datetime": options.datetime_enabled,
        "openrouter:advisor": options.advisor_enabled,
        "openrouter:subagent": options.subagent_enabled,
        "openrouter:experimental__search_models": options.search_models_enabled,
    }
    for tool_type, on in enabled.items():
        if on:
            payload.setdefault("tools", []).append({"type": tool_type})


def add_file_parser(payload: dict[str, Any], options: TransformOptions) -> None:
    """Add the ``file-parser`` plugin (the configured PDF engine) when the input has a file.

    Called again after the media intake, which may add files (direct uploads).
    """
    if options.file_parser_engine is None or not _has_file(payload["input"]):
        return
    plugins: list[dict[str, Any]] = payload.setdefault("plugins", [])
    if not any(plugin.get("id") == "file-parser" for plugin in plugins):
        plugins.append({"id": "file-parser", "pdf": {"engine": options.file_parser_engine}})


def _add_plugins(payload: dict[str, Any], options: TransformOptions) -> None:
    add_file_parser(payload, options)
    plugins: list[dict[str, Any]] = payload.setdefault("plugins", [])
    if options.auto_context_trimming:
        plugins.append({"id": "context-compression"})
    if not plugins:
        del payload["plugins"]


def _has_file(items: list[dict[str, Any]]) -> bool:
    return any(
        isinstance(part, Mapping) and part.get("type") == "input_file"
        for item in items
        if item.get("role") == "user" and isinstance(item.get("content"), list)
        for part in item["content"]
    )


def _stream_flag(body: Mapping[str, Any]) -> bool:
    return _optional_bool(body, "stream") or False


def _optional_bool(body: Mapping[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise RequestTransformError(key, "must be a boolean")
    return value


def _require_mapping(body: object) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise RequestTransformError("$", "the request body must be a JSON object")
    return body
