"""Map a shim ``request`` frame to the gateway's arguments.

The shim forwards what Open WebUI hands the pipe: the chat body, the user, the user's valves
(``UserValves``), the function's admin valves (request-scoped ``valves``), the metadata and the
tools it can run. This module turns that into what :meth:`ChatGateway.open_turn` takes, plus the
options the frame renderer needs. Valve names are the seed pipe's (``REASONING_EFFORT``,
``SHOW_FINAL_USAGE_STATUS``, …) and are matched case-insensitively; admin valves may also use
the :class:`TransformOptions` field names. Unknown valves are ignored (logged at debug level);
an invalid value is refused with an ``invalid_request`` error that names the valve.

Synopsis::

    arguments = map_request(frame, defaults=settings.chat)   # raises ProtocolError
    model = gateway.resolve_model(frame.model)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Literal

from pydantic import BeforeValidator, Field, Json, TypeAdapter, ValidationError

from pipe_service.chat.usage_line import DEFAULT_USAGE_ICONS, UsageIcons, UsageLineStyle
from pipe_service.config.error_templates import validate_error_template
from pipe_service.media.intake import Attachment
from pipe_service.protocol import ErrorCode, ProtocolError, Request
from pipe_service.transform.options import (
    ProviderRouting,
    ReasoningEffort,
    ReasoningSummary,
    RequestIdentity,
    TransformOptions,
    UserOverrides,
)

logger = logging.getLogger("pipe_service.front.pipe.request")

ThinkingOutput = Literal["open_webui", "status", "both"]
ToolMode = Literal["pipeline", "passthrough"]

# Valve values that mean "not set": the seed's INHERIT sentinel, and what an empty form sends.
_UNSET_VALUES: Final = frozenset({"", "inherit", "default"})


@dataclass(frozen=True)
class RenderOptions:
    """How the turn's events become frames (user-visible choices that are not payload knobs)."""

    show_usage: bool = True
    usage_style: UsageLineStyle = "text"
    thinking_output: ThinkingOutput = "open_webui"
    show_timing: bool = False  # phase timings appended to the usage line (diagnosis)
    show_tool_cards: bool = False
    """The seed's SHOW_TOOL_CARDS: each tool the sidecar ran shows as a collapsed card."""
    usage_icons: UsageIcons = DEFAULT_USAGE_ICONS
    error_template: str | None = None
    """Replaces ``messages.error_template`` for this request (the ERROR_TEMPLATE valve)."""
    interrupted_template: str | None = None
    """Replaces ``messages.interrupted_template`` (the STREAM_INTERRUPTED_TEMPLATE valve)."""


@dataclass(frozen=True)
class TurnArguments:
    """Everything the endpoint needs from one ``request`` frame, validated."""

    body: dict[str, Any]
    stream: bool
    user: UserOverrides
    identity: RequestIdentity
    options: TransformOptions
    task: str | None
    api_key: str | None
    tool_specs: list[dict[str, Any]]
    tool_mode: ToolMode
    render: RenderOptions = field(default_factory=RenderOptions)
    max_tool_rounds: int | None = None
    attachments: tuple[Attachment, ...] = ()

    @property
    def whole_answer(self) -> bool:
        """True when the answer is returned in ``done`` rather than streamed (task, non-stream)."""
        return self.task is not None or not self.stream


# -- valve tables ---------------------------------------------------------------------------------

_BOOL: Final = TypeAdapter(bool)
_EFFORT: Final[TypeAdapter[Any]] = TypeAdapter(ReasoningEffort)
_SUMMARY: Final[TypeAdapter[Any]] = TypeAdapter(ReasoningSummary)
_STYLE: Final[TypeAdapter[Any]] = TypeAdapter(UsageLineStyle)
_THINKING: Final[TypeAdapter[Any]] = TypeAdapter(ThinkingOutput)
# A JSON object (Open WebUI text valves carry it as a string); validated field by field.
_ROUTING: Final[TypeAdapter[Any]] = TypeAdapter(Json[ProviderRouting] | ProviderRouting)
# The seed's PERSIST_REASONING_TOKENS says "disabled" for off.
_PERSIST_REASONING: Final[TypeAdapter[Any]] = TypeAdapter(
    Annotated[
        Literal["off", "next_reply", "conversation"],
        BeforeValidator(lambda value: "off" if value == "disabled" else value),
    ]
)
_TOOL_MODE_ALIASES: Final = {
    "pipeline": "pipeline",
    "passthrough": "passthrough",
    "open-webui": "passthrough",  # the seed's name for Open WebUI's native tool loop
    "open_webui": "passthrough",
}


_TOOL_ROUNDS: Final[TypeAdapter[Any]] = TypeAdapter(
    Annotated[int, Field(ge=1, le=100, strict=False)]
)


def _icon_set(value: Any) -> UsageIcons:
    if not isinstance(value, str):
        raise ValueError("expected comma-separated icons")
    icons = [icon.strip() for icon in value.split(",")]
    if len(icons) != len(UsageIcons._fields) or not all(icons):
        fields = ", ".join(UsageIcons._fields)
        raise ValueError(f"expected {len(UsageIcons._fields)} comma-separated icons ({fields})")
    return UsageIcons(*icons)


def _template(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a Markdown template")
    validate_error_template(value)
    return value


_ICONS: Final[TypeAdapter[Any]] = TypeAdapter(Annotated[Any, BeforeValidator(_icon_set)])
_TEMPLATE: Final[TypeAdapter[Any]] = TypeAdapter(
    Annotated[str, BeforeValidator(_template), Field(max_length=4000)]
)


@dataclass(frozen=True)
class _Valve:
    target: Literal["user", "render", "tools"]
    field: str
    adapter: TypeAdapter[Any]
    case_insensitive: bool = True
    """Enumerated values are matched case-insensitively; free text (templates) is kept as is."""


# Choices the user (and, as defaults, the admin) makes about presentation and tools.
_PRESENTATION_VALVES: Final[dict[str, _Valve]] = {
    "show_final_usage_status": _Valve("render", "show_usage", _BOOL),
    "show_usage_status": _Valve("render", "show_usage", _BOOL),
    "usage_status_style": _Valve("render", "usage_style", _STYLE),
    "usage_display_style": _Valve("render", "usage_style", _STYLE),
    "thinking_output_mode": _Valve("render", "thinking_output", _THINKING),
    "show_timing": _Valve("render", "show_timing", _BOOL),
    "show_phase_timing": _Valve("render", "show_timing", _BOOL),
    "show_tool_cards": _Valve("render", "show_tool_cards", _BOOL),
    "usage_status_icon_set": _Valve("render", "usage_icons", _ICONS, case_insensitive=False),
    "error_template": _Valve("render", "error_template", _TEMPLATE, case_insensitive=False),
    "stream_interrupted_template": _Valve(
        "render", "interrupted_template", _TEMPLATE, case_insensitive=False
    ),
    "tool_execution_mode": _Valve("tools", "tool_mode", TypeAdapter(str)),
    "max_function_call_loops": _Valve("tools", "max_tool_rounds", _TOOL_ROUNDS),
}

# A user valve that overrides an admin option for this user's requests (not a UserOverrides
# field: it replaces the option outright, both ways).
_USER_OPTION_INTERLEAVED: Final = "anthropic_interleaved_thinking"

# The seed's UserValves that map onto UserOverrides.
_USER_VALVES: Final[dict[str, _Valve]] = {
    **_PRESENTATION_VALVES,
    "enable_reasoning": _Valve("user", "reasoning_enabled", _BOOL),
    "reasoning_effort": _Valve("user", "reasoning_effort", _EFFORT),
    "reasoning_summary_mode": _Valve("user", "reasoning_summary", _SUMMARY),
    "web_search": _Valve("user", "web_search", _BOOL),
    "enable_web_search": _Valve("user", "web_search", _BOOL),
    "request_zdr": _Valve("user", "request_zdr", _BOOL),
    "provider_routing": _Valve("user", "provider_routing", _ROUTING),
    "persist_reasoning_tokens": _Valve("user", "persist_reasoning", _PERSIST_REASONING),
    "persist_tool_results": _Valve("user", "persist_tool_results", _BOOL),
    "enable_anthropic_interleaved_thinking": _Valve("user", _USER_OPTION_INTERLEAVED, _BOOL),
}

# The seed's admin Valves that map onto TransformOptions fields (field names work too).
_ADMIN_OPTION_ALIASES: Final[dict[str, str]] = {
    "enable_reasoning": "reasoning_enabled",
    "reasoning_summary_mode": "reasoning_summary",
    "task_model_reasoning_effort": "task_reasoning_effort",
    "enable_strict_tool_calling": "strict_tools",
    "enable_web_search": "web_search_enabled",
    "enable_web_search_tool": "web_search_enabled",
    "enable_web_fetch": "web_fetch_enabled",
    "enable_datetime": "datetime_enabled",
    "enable_advisor": "advisor_enabled",
    "enable_subagent": "subagent_enabled",
    "enable_search_models": "search_models_enabled",
    "max_output_tokens": "max_output_tokens_cap",
    "send_end_user_id": "send_user_id",
    "allow_user_zdr_override": "allow_user_zdr",
    "default_llm_endpoint": "default_endpoint",
    "force_chat_completions_models": "chat_completions_models",
    "force_responses_models": "responses_models",
    "enable_anthropic_interleaved_thinking": "anthropic_interleaved_thinking",
    "enable_anthropic_prompt_caching": "anthropic_prompt_caching",
    "send_cache_session_id": "cache_session_id",
}
# Option fields holding objects that valves write as JSON text.
_JSON_OPTION_FIELDS: Final = frozenset({"model_routing", "provider_routing"})
# Option fields holding lists that valves write as comma-separated text.
_CSV_OPTION_FIELDS: Final = frozenset(
    {"fallback_models", "chat_completions_models", "responses_models"}
)


def map_request(frame: Request, *, defaults: TransformOptions) -> TurnArguments:
    """Validate ``frame`` and turn it into :class:`TurnArguments`.

    Raises :class:`ProtocolError` (``invalid_request``) naming the valve or field at fault.
    """
    presentation = _read_presentation(frame.valves, source="valves", base={})
    options = _admin_options(frame.valves, defaults)
    user_fields: dict[str, Any] = {}
    presentation = _read_presentation(
        frame.user_valves, source="user_valves", base=presentation, user_fields=user_fields
    )
    if _USER_OPTION_INTERLEAVED in user_fields:
        interleaved = user_fields.pop(_USER_OPTION_INTERLEAVED)
        options = options.model_copy(update={_USER_OPTION_INTERLEAVED: interleaved})
    render = RenderOptions(
        **{k: v for k, v in presentation.items() if k not in ("tool_mode", "max_tool_rounds")}
    )
    tool_mode = _tool_mode(presentation.get("tool_mode", "pipeline"))
    max_tool_rounds = presentation.get("max_tool_rounds")
    task = frame.metadata.task or None
    tool_specs = [_function_spec(tool.name, tool.spec) for tool in frame.tools]
    return TurnArguments(
        body=_body_with_tools(frame.body, tool_specs),
        stream=frame.stream,
        user=UserOverrides(**user_fields),
        identity=RequestIdentity(
            user_id=frame.user.id or None,
            user_email=frame.user.email or None,
            user_name=frame.user.name or None,
            chat_id=frame.metadata.chat_id or None,
            session_id=frame.metadata.session_id or None,
            message_id=frame.metadata.message_id or None,
        ),
        options=options,
        task=task,
        api_key=frame.api_key or None,
        tool_specs=tool_specs,
        tool_mode=tool_mode,
        render=render,
        max_tool_rounds=max_tool_rounds,
        attachments=_attachments(frame.files),
    )


def _attachments(files: list[dict[str, Any]]) -> tuple[Attachment, ...]:
    """The ``files`` entries that carry content (direct uploads the shim read from storage).

    Entries without ``data_b64`` are Open WebUI's file summaries (its RAG handles those).
    """
    found: list[Attachment] = []
    for index, entry in enumerate(files):
        data = entry.get("data_b64")
        if data is None:
            continue
        if not isinstance(data, str) or not data:
            raise ProtocolError(
                ErrorCode.INVALID_REQUEST, f"files[{index}].data_b64 must be a base64 string"
            )
        found.append(
            Attachment(
                name=str(entry.get("name") or "attachment")[:255],
                content_type=str(entry.get("content_type") or "application/octet-stream")[:255],
                data_b64=data,
                file_id=str(entry["id"])[:256] if entry.get("id") else None,
            )
        )
    return tuple(found)


def _is_unset(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in _UNSET_VALUES)


def _normalised(value: Any) -> Any:
    # Enumerated valves are compared case-insensitively ("Pipeline", "ICONS").
    return value.strip().lower() if isinstance(value, str) else value


def _read_presentation(
    valves: Mapping[str, Any],
    *,
    source: str,
    base: Mapping[str, Any],
    user_fields: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Apply presentation valves (and, for user valves, UserOverrides fields) over ``base``."""
    table = _USER_VALVES if user_fields is not None else _PRESENTATION_VALVES
    chosen = dict(base)
    for name, value in valves.items():
        valve = table.get(name.lower())
        if valve is None:
            if user_fields is not None:
                logger.debug("ignoring unknown user valve", extra={"valve": name[:64]})
            continue
        if _is_unset(value):
            continue
        given = _normalised(value) if valve.case_insensitive else value
        parsed = _validated(valve.adapter, given, f"{source}.{name}")
        if valve.target == "user" and user_fields is not None:
            user_fields[valve.field] = parsed
        else:
            chosen[valve.field] = parsed
    return chosen


def _validated(adapter: TypeAdapter[Any], value: Any, where: str) -> Any:
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"]
        raise ProtocolError(
            ErrorCode.INVALID_REQUEST, f"{where[:96]}: invalid value {_preview(value)} ({reason})"
        ) from None


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 48 else text[:47] + "…"


def _tool_mode(value: str) -> ToolMode:
    mode = _TOOL_MODE_ALIASES.get(value.lower())
    if mode == "passthrough":
        return "passthrough"
    if mode == "pipeline":
        return "pipeline"
    raise ProtocolError(
        ErrorCode.INVALID_REQUEST,
        f"TOOL_EXECUTION_MODE: invalid value {_preview(value)} (use 'pipeline' or 'passthrough')",
    )


def _admin_options(valves: Mapping[str, Any], defaults: TransformOptions) -> TransformOptions:
    """``defaults`` with the request-scoped admin valves applied, validated as a whole."""
    fields = TransformOptions.model_fields
    updates: dict[str, Any] = {}
    names: dict[str, str] = {}  # field -> the valve name the shim used, for error messages
    for name, value in valves.items():
        key = name.lower()
        target = _ADMIN_OPTION_ALIASES.get(key, key)
        if target not in fields:
            if key not in _PRESENTATION_VALVES:
                logger.debug("ignoring unknown valve", extra={"valve": name[:64]})
            continue
        if _is_unset(value):
            continue
        if target in _CSV_OPTION_FIELDS and isinstance(value, str):
            # Empty entries are kept so validation refuses "a,,b" naming the valve.
            value = tuple(part.strip() for part in value.split(","))
        elif target in _JSON_OPTION_FIELDS and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ProtocolError(
                    ErrorCode.INVALID_REQUEST, f"valves.{name[:64]}: not valid JSON"
                ) from None
        updates[target] = _normalised(value) if isinstance(value, str) else value
        names[target] = name
    if not updates:
        return defaults
    try:
        return TransformOptions.model_validate({**defaults.model_dump(), **updates})
    except ValidationError as exc:
        first = exc.errors()[0]
        field_name = str(first["loc"][0]) if first["loc"] else ""
        valve = names.get(field_name, field_name)
        raise ProtocolError(
            ErrorCode.INVALID_REQUEST, f"valves.{valve[:64]}: {first['msg']}"
        ) from None


def _function_spec(name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAI function spec of one shim tool (accepts the bare or the wrapped form)."""
    inner = spec.get("function") if spec.get("type") == "function" else spec
    if not isinstance(inner, Mapping):
        raise ProtocolError(ErrorCode.INVALID_REQUEST, f"tools[{name[:64]}].spec is not an object")
    spec_name = inner.get("name")
    if spec_name is not None and not isinstance(spec_name, str):
        raise ProtocolError(
            ErrorCode.INVALID_REQUEST, f"tools[{name[:64]}].spec.name is not a string"
        )
    return {**inner, "name": spec_name or name}


def _body_with_tools(body: Mapping[str, Any], specs: list[dict[str, Any]]) -> dict[str, Any]:
    """The body, with the shim's tools added as function tools when the body lacks them.

    Open WebUI's native mode already puts them in ``body["tools"]``; a shim that only lists
    them in the frame still gets them offered to the model. Tools already present by name
    are not added twice.
    """
    result = dict(body)
    if not specs:
        return result
    existing = result.get("tools")
    present: set[str] = set()
    if isinstance(existing, list):
        for tool in existing:
            function = tool.get("function") if isinstance(tool, Mapping) else None
            if isinstance(function, Mapping) and isinstance(function.get("name"), str):
                present.add(function["name"])
    else:
        existing = []
    added = [
        {"type": "function", "function": spec} for spec in specs if spec["name"] not in present
    ]
    if added:
        result["tools"] = [*existing, *added]
    return result
