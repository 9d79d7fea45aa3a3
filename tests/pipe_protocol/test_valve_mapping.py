"""The admin's valves (the Functions form) as request-scoped options: each one lands in the
options of the turn, and a bad value is refused with an error naming the valve."""

from __future__ import annotations

from typing import Any

import pytest

from pipe_service.front.pipe.request import map_request
from pipe_service.protocol import ProtocolError, Request
from pipe_service.transform.options import TransformOptions
from tests.pipe_protocol.conftest import request_frame


def _mapped(**valves: Any) -> Any:
    frame = Request.model_validate(request_frame("sim/text", valves=valves))
    return map_request(frame, defaults=TransformOptions())


@pytest.mark.parametrize(
    ("valve", "value", "field", "expected"),
    [
        ("ENABLE_STRICT_TOOL_CALLING", False, "strict_tools", False),
        ("ENABLE_WEB_FETCH", True, "web_fetch_enabled", True),
        ("ENABLE_DATETIME", True, "datetime_enabled", True),
        ("ENABLE_ADVISOR", True, "advisor_enabled", True),
        ("ENABLE_SUBAGENT", True, "subagent_enabled", True),
        ("ENABLE_SEARCH_MODELS", True, "search_models_enabled", True),
        ("USE_MODEL_MAX_OUTPUT_TOKENS", True, "use_model_max_output_tokens", True),
        ("MAX_OUTPUT_TOKENS", 512, "max_output_tokens_cap", 512),
        (
            "FALLBACK_MODELS",
            "sim/text, sim/reasoning",
            "fallback_models",
            ("sim/text", "sim/reasoning"),
        ),
        ("WEB_SEARCH_MODE", "plugin", "web_search_mode", "plugin"),
        ("ENABLE_ANTHROPIC_PROMPT_CACHING", True, "anthropic_prompt_caching", True),
        ("ANTHROPIC_PROMPT_CACHE_TTL", "1h", "anthropic_prompt_cache_ttl", "1h"),
        ("ENABLE_ANTHROPIC_INTERLEAVED_THINKING", True, "anthropic_interleaved_thinking", True),
        ("GEMINI_THINKING_BUDGET", 2048, "gemini_thinking_budget", 2048),
    ],
)
def test_an_admin_valve_sets_its_option(valve: str, value: Any, field: str, expected: Any) -> None:
    assert getattr(_mapped(**{valve: value}).options, field) == expected


def test_zdr_enforce_asks_every_request_for_zdr_endpoints() -> None:
    # Mapped onto issue 11's chat.zdr_enforce (which sends provider.zdr=true).
    assert _mapped(ZDR_ENFORCE=True).options.zdr_enforce is True
    assert _mapped(ZDR_ENFORCE=False).options.zdr_enforce is False


def test_max_function_call_loops_limits_the_tool_rounds_of_the_request() -> None:
    assert _mapped(MAX_FUNCTION_CALL_LOOPS=3).max_tool_rounds == 3
    assert _mapped().max_tool_rounds is None


@pytest.mark.parametrize(
    ("valve", "value"),
    [
        ("MAX_FUNCTION_CALL_LOOPS", 0),
        ("FALLBACK_MODELS", "sim/text,,sim/reasoning"),
        ("MAX_OUTPUT_TOKENS", -5),
        ("ZDR_ENFORCE", "sometimes"),
        ("WEB_SEARCH_MODE", "everywhere"),
        ("ANTHROPIC_PROMPT_CACHE_TTL", []),
    ],
)
def test_a_bad_value_is_refused_naming_the_valve(valve: str, value: Any) -> None:
    with pytest.raises(ProtocolError) as raised:
        _mapped(**{valve: value})
    assert raised.value.code == "invalid_request"
    assert valve in raised.value.message


@pytest.mark.parametrize(
    ("valve", "value", "field", "expected"),
    [
        ("END_USER_ID_SOURCE", "email", "end_user_id_source", "email"),
        ("SEND_CHAT_ID", True, "send_chat_id", True),
        ("SEND_MESSAGE_ID", True, "send_message_id", True),
        ("ALLOW_USER_ZDR_OVERRIDE", False, "allow_user_zdr", False),
        ("SEND_END_USER_ID", True, "send_user_id", True),
    ],
)
def test_identifier_valves_set_their_options(
    valve: str, value: Any, field: str, expected: Any
) -> None:
    assert getattr(_mapped(**{valve: value}).options, field) == expected


def test_the_usage_icon_set_is_read_in_order() -> None:
    icons = _mapped(USAGE_STATUS_ICON_SET="T, C, S, I, O, K, R").render.usage_icons
    assert tuple(icons) == ("T", "C", "S", "I", "O", "K", "R")


def test_error_templates_are_kept_verbatim() -> None:
    template = "### Sorry: {title}\n\nWrite to Support@Example.com ({error_id})"
    render = _mapped(ERROR_TEMPLATE=template, STREAM_INTERRUPTED_TEMPLATE="Cut: {message}").render
    assert render.error_template == template
    assert render.interrupted_template == "Cut: {message}"


@pytest.mark.parametrize(
    ("valve", "value"),
    [
        ("USAGE_STATUS_ICON_SET", "a,b,c"),
        ("ERROR_TEMPLATE", "{no_such_placeholder}"),
        ("STREAM_INTERRUPTED_TEMPLATE", "{title"),
        ("END_USER_ID_SOURCE", "phone"),
    ],
)
def test_a_bad_presentation_value_is_refused_naming_the_valve(valve: str, value: Any) -> None:
    with pytest.raises(ProtocolError) as raised:
        _mapped(**{valve: value})
    assert valve in raised.value.message
