"""Every request-scoped valve of the Functions form, set through Open WebUI's API, and its
effect: in what the sidecar sent upstream (the simulator's request log) or, for the valves that
shape rendering, in what the chat shows. A bad value is refused with an error naming the valve.

One Function (``openrouter_valves``) is used; each case sets its valves, chats once, and puts
the valves back. ``TASK_MODEL_REASONING_EFFORT`` is not here: the suite disables Open WebUI's
task calls (they would call the pipe behind each chat); ``tests/transform`` covers it. The
model-entry valves (``MODEL_ACCESS`` …) are exercised by ``test_model_access.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import InstalledShim, Stack, install
from tests.e2e.owui_rest import Admin, assistant_message, complete, create_tool, saved_chat
from tests.e2e.ui_chat import UiChat

pytestmark = pytest.mark.e2e

FUNCTION_ID = "openrouter_valves"
TOOL_ID = "e2e_valves_weather"
TOOL_SOURCE = '''
class Tools:
    def get_weather(self, city: str) -> str:
        """
        The current weather in a city.
        :param city: the city's name
        """
        return f"Sunny in {city}, 21 C"
'''

Body = dict[str, Any]


@pytest.fixture(scope="module")
def valves_shim(stack: Stack, shim_file: Path) -> InstalledShim:
    create_tool(stack.admin, TOOL_ID, TOOL_SOURCE)
    return install(stack, shim_file, FUNCTION_ID)


def _valves_path(function_id: str) -> str:
    return f"/api/v1/functions/id/{function_id}/valves"


@contextmanager
def valves_set(admin: Admin, function_id: str, **values: Any) -> Iterator[None]:
    """Set ``values`` the way the Functions form does (the whole form posted), then restore."""
    with admin.client() as client:
        before = client.get(_valves_path(function_id)).json()
        reply = client.post(f"{_valves_path(function_id)}/update", json=before | values)
        assert reply.status_code == 200, reply.text
    try:
        yield
    finally:
        with admin.client() as client:
            reply = client.post(f"{_valves_path(function_id)}/update", json=before)
            assert reply.status_code == 200, reply.text


def _functions(body: Body) -> list[str]:
    return [t.get("name") for t in body.get("tools", []) if t.get("type") == "function"]


def _types(body: Body) -> list[str]:
    return [t.get("type") for t in body.get("tools", [])]


def _plugins(body: Body) -> list[str]:
    return [plugin.get("id") for plugin in body.get("plugins", [])]


@dataclass(frozen=True)
class UpstreamCase:
    """A valve whose effect shows in the request the sidecar sent upstream."""

    valves: dict[str, Any]
    model: str
    sent: Callable[[Body], bool]
    ui: bool = False  # chat the way the browser does (session id, workspace tool)
    request: int = -1  # which upstream request of the chat to look at
    extra: dict[str, Any] | None = None
    header: tuple[str, str] | None = None  # a request header the sidecar must send upstream


UPSTREAM_CASES = {
    "ENABLE_REASONING": UpstreamCase(
        {"ENABLE_REASONING": False}, "sim/reasoning", lambda b: "reasoning" not in b
    ),
    "REASONING_EFFORT": UpstreamCase(
        {"REASONING_EFFORT": "high"}, "sim/reasoning", lambda b: b["reasoning"]["effort"] == "high"
    ),
    "REASONING_SUMMARY_MODE": UpstreamCase(
        {"REASONING_SUMMARY_MODE": "detailed"},
        "sim/reasoning",
        lambda b: b["reasoning"]["summary"] == "detailed",
    ),
    "ENABLE_WEB_SEARCH": UpstreamCase(
        {"ENABLE_WEB_SEARCH": True}, "sim/text", lambda b: "openrouter:web_search" in _types(b)
    ),
    "WEB_SEARCH_MAX_RESULTS": UpstreamCase(
        {"ENABLE_WEB_SEARCH": True, "WEB_SEARCH_MAX_RESULTS": 3},
        "sim/text",
        lambda b: b["tools"][0]["parameters"]["max_results"] == 3,
    ),
    "WEB_SEARCH_MODE": UpstreamCase(
        {"ENABLE_WEB_SEARCH": True, "WEB_SEARCH_MODE": "plugin"},
        "sim/text",
        lambda b: "web" in _plugins(b),
    ),
    "ENABLE_WEB_FETCH": UpstreamCase(
        {"ENABLE_WEB_FETCH": True}, "sim/text", lambda b: "openrouter:web_fetch" in _types(b)
    ),
    "ENABLE_DATETIME": UpstreamCase(
        {"ENABLE_DATETIME": True}, "sim/text", lambda b: "openrouter:datetime" in _types(b)
    ),
    "ENABLE_ADVISOR": UpstreamCase(
        {"ENABLE_ADVISOR": True}, "sim/text", lambda b: "openrouter:advisor" in _types(b)
    ),
    "ENABLE_SUBAGENT": UpstreamCase(
        {"ENABLE_SUBAGENT": True}, "sim/text", lambda b: "openrouter:subagent" in _types(b)
    ),
    "ENABLE_SEARCH_MODELS": UpstreamCase(
        {"ENABLE_SEARCH_MODELS": True},
        "sim/text",
        lambda b: "openrouter:experimental__search_models" in _types(b),
    ),
    "DEFAULT_LLM_ENDPOINT": UpstreamCase(
        {"DEFAULT_LLM_ENDPOINT": "chat_completions"},
        "sim/text",
        lambda b: "messages" in b and "input" not in b,
    ),
    "FORCE_CHAT_COMPLETIONS_MODELS": UpstreamCase(
        {"FORCE_CHAT_COMPLETIONS_MODELS": "sim/te*"},
        "sim/text",
        lambda b: "messages" in b and "input" not in b,
    ),
    "FORCE_RESPONSES_MODELS": UpstreamCase(
        {"DEFAULT_LLM_ENDPOINT": "chat_completions", "FORCE_RESPONSES_MODELS": "sim/text"},
        "sim/text",
        lambda b: "input" in b and "messages" not in b,
    ),
    "SEND_CACHE_SESSION_ID": UpstreamCase(
        {"SEND_CACHE_SESSION_ID": False}, "sim/text", lambda b: "session_id" not in b, ui=True
    ),
    "AUTO_CONTEXT_TRIMMING": UpstreamCase(
        {"AUTO_CONTEXT_TRIMMING": True},
        "sim/text",
        lambda b: "context-compression" in _plugins(b),
    ),
    "SEND_USER_ID": UpstreamCase({"SEND_USER_ID": True}, "sim/text", lambda b: bool(b["user"])),
    "SEND_METADATA": UpstreamCase(
        {"SEND_METADATA": True}, "sim/text", lambda b: bool(b["metadata"]["user_id"])
    ),
    "SEND_SESSION_ID": UpstreamCase(
        {"SEND_SESSION_ID": True}, "sim/text", lambda b: bool(b["session_id"]), ui=True
    ),
    "USE_MODEL_MAX_OUTPUT_TOKENS": UpstreamCase(
        {"USE_MODEL_MAX_OUTPUT_TOKENS": True},
        "sim/text",
        lambda b: b["max_output_tokens"] == 16384,
    ),
    "MAX_OUTPUT_TOKENS": UpstreamCase(
        {"MAX_OUTPUT_TOKENS": 77},
        "sim/text",
        lambda b: b["max_output_tokens"] == 77,
        extra={"max_tokens": 500},
    ),
    "FALLBACK_MODELS": UpstreamCase(
        {"FALLBACK_MODELS": "sim/reasoning"}, "sim/text", lambda b: b["models"] == ["sim/reasoning"]
    ),
    "ZDR_ENFORCE": UpstreamCase(
        {"ZDR_ENFORCE": True}, "sim/text", lambda b: b["provider"]["zdr"] is True
    ),
    "END_USER_ID_SOURCE": UpstreamCase(
        {"SEND_USER_ID": True, "END_USER_ID_SOURCE": "email"},
        "sim/text",
        lambda b: b["user"] == "admin@e2e.local",
    ),
    "SEND_CHAT_ID": UpstreamCase(
        {"SEND_CHAT_ID": True}, "sim/text", lambda b: set(b["metadata"]) == {"chat_id"}, ui=True
    ),
    "SEND_MESSAGE_ID": UpstreamCase(
        {"SEND_MESSAGE_ID": True},
        "sim/text",
        lambda b: set(b["metadata"]) == {"message_id"},
        ui=True,
    ),
    "ENABLE_ANTHROPIC_PROMPT_CACHING": UpstreamCase(
        {"ENABLE_ANTHROPIC_PROMPT_CACHING": True},
        "anthropic/claude-e2e",
        lambda b: b["cache_control"] == {"type": "ephemeral", "ttl": "5m"},
    ),
    "ANTHROPIC_PROMPT_CACHE_TTL": UpstreamCase(
        {"ENABLE_ANTHROPIC_PROMPT_CACHING": True, "ANTHROPIC_PROMPT_CACHE_TTL": "1h"},
        "anthropic/claude-e2e",
        lambda b: b["cache_control"]["ttl"] == "1h",
    ),
    "ENABLE_ANTHROPIC_INTERLEAVED_THINKING": UpstreamCase(
        {"ENABLE_ANTHROPIC_INTERLEAVED_THINKING": True},
        "anthropic/claude-e2e",
        lambda b: "reasoning" in b,
        header=("x-anthropic-beta", "interleaved-thinking-2025-05-14"),
    ),
    "GEMINI_THINKING_BUDGET": UpstreamCase(
        {"GEMINI_THINKING_BUDGET": 1024},
        "google/gemini-2.5-e2e",
        lambda b: b["reasoning"]["max_tokens"] == 1024,
    ),
    "ENABLE_STRICT_TOOL_CALLING": UpstreamCase(
        {"ENABLE_STRICT_TOOL_CALLING": False},
        "sim/tool-call",
        lambda b: b["tools"][0].get("strict") is not True,  # default: strict=true
        ui=True,
        request=0,
    ),
    "MAX_FUNCTION_CALL_LOOPS": UpstreamCase(
        {"MAX_FUNCTION_CALL_LOOPS": 1},
        "sim/tool-call",
        lambda b: b.get("tool_choice") == "none",
        ui=True,
    ),
    "BUILTIN_TOOLS": UpstreamCase(
        {"BUILTIN_TOOLS": "all"},
        "sim/tool-call",
        lambda b: {"get_weather", "search_chats"} <= set(_functions(b)),
        ui=True,
        request=0,
    ),
}


def _ui_chat(stack: Stack, model: str, content: str) -> dict[str, Any]:
    with UiChat(
        stack.owui.python, stack.owui.url, stack.admin.jwt, model, content, tool_ids=TOOL_ID
    ) as chat:
        chat_id = chat.started()["chat_id"]
        chat.finished()
        return {"chat_id": chat_id, "events": chat.events()}


@pytest.mark.parametrize("case", UPSTREAM_CASES.values(), ids=UPSTREAM_CASES.keys())
def test_a_form_valve_shapes_the_upstream_request(
    stack: Stack, valves_shim: InstalledShim, case: UpstreamCase
) -> None:
    model = valves_shim.model(case.model)
    stack.simulator.clear_requests()
    with valves_set(stack.admin, FUNCTION_ID, **case.valves):
        if case.ui:
            _ui_chat(stack, model, "weather?")
        else:
            complete(stack.admin, model, "valves", **(case.extra or {}))
    record = stack.simulator.requests()[case.request]
    assert case.sent(record["body"]), record["body"]
    if case.header is not None:
        name, value = case.header
        assert record["headers"].get(name) == value, record["headers"]


@pytest.mark.parametrize("fallback", [True, False])
def test_auto_fallback_chat_completions_decides_whether_a_refused_model_retries_on_chat(
    stack: Stack, valves_shim: InstalledShim, fallback: bool
) -> None:
    stack.simulator.clear_requests()
    with valves_set(stack.admin, FUNCTION_ID, AUTO_FALLBACK_CHAT_COMPLETIONS=fallback):
        reply = complete(stack.admin, valves_shim.model("sim/chat-only"), "fallback")
    records = stack.simulator.requests()
    content = reply["choices"][0]["message"]["content"]
    if fallback:
        assert ["input" in r["body"] for r in records] == [True, False]  # /responses, then chat
        assert content.startswith("You said: fallback.")
    else:
        assert len(records) == 1
        assert "You said" not in content


def test_the_cache_session_id_is_sent_by_default(stack: Stack, valves_shim: InstalledShim) -> None:
    # The other half of the SEND_CACHE_SESSION_ID case: without the valve, a UI chat carries it.
    stack.simulator.clear_requests()
    _ui_chat(stack, valves_shim.model("sim/text"), "cache me")
    assert stack.simulator.requests()[-1]["body"].get("session_id")


def _statuses(events: list[dict[str, Any]]) -> list[str]:
    return [
        str(event["data"].get("description"))
        for event in events
        if event.get("type") == "status" and isinstance(event.get("data"), dict)
    ]


def test_show_final_usage_status_off_hides_the_usage_line(
    stack: Stack, valves_shim: InstalledShim
) -> None:
    with valves_set(stack.admin, FUNCTION_ID, SHOW_FINAL_USAGE_STATUS=False):
        events = _ui_chat(stack, valves_shim.model("sim/text"), "no usage")["events"]
    assert not [line for line in _statuses(events) if "Time:" in line or "⧗" in line]


def test_usage_status_style_icons_shows_the_icons(stack: Stack, valves_shim: InstalledShim) -> None:
    with valves_set(stack.admin, FUNCTION_ID, USAGE_STATUS_STYLE="icons"):
        events = _ui_chat(stack, valves_shim.model("sim/text"), "icons")["events"]
    assert [line for line in _statuses(events) if line.startswith("⧗")]


def test_thinking_output_mode_status_shows_thinking_as_status_lines(
    stack: Stack, valves_shim: InstalledShim
) -> None:
    with valves_set(stack.admin, FUNCTION_ID, THINKING_OUTPUT_MODE="status"):
        events = _ui_chat(stack, valves_shim.model("sim/reasoning"), "think")["events"]
    assert [line for line in _statuses(events) if line.startswith("Thinking…")]


def test_usage_status_icon_set_replaces_the_icons(stack: Stack, valves_shim: InstalledShim) -> None:
    icons = "T,C,S,I,O,K,R"
    with valves_set(
        stack.admin, FUNCTION_ID, USAGE_STATUS_STYLE="icons", USAGE_STATUS_ICON_SET=icons
    ):
        events = _ui_chat(stack, valves_shim.model("sim/text"), "icons")["events"]
    assert [line for line in _statuses(events) if line.startswith("T ")]


def test_error_template_words_a_failed_answer(stack: Stack, valves_shim: InstalledShim) -> None:
    template = "Sorry: {title}. Ask help@example.com about {error_id}."
    with valves_set(stack.admin, FUNCTION_ID, ERROR_TEMPLATE=template):
        reply = complete(stack.admin, valves_shim.model("sim/error-429"), "fail")
    content = reply["choices"][0]["message"]["content"]
    assert content.startswith("Sorry: Rate limit reached. Ask help@example.com about err_")


def test_stream_interrupted_template_words_the_notice(
    stack: Stack, valves_shim: InstalledShim
) -> None:
    with valves_set(stack.admin, FUNCTION_ID, STREAM_INTERRUPTED_TEMPLATE="\n\n[cut: {kind}]"):
        chat_id = _ui_chat(stack, valves_shim.model("sim/fail-mid-stream"), "fail")["chat_id"]
    assert "[cut: " in assistant_message(saved_chat(stack.admin, chat_id))["content"]


def test_allow_user_zdr_override_off_refuses_the_users_zdr_request_naming_the_valve(
    stack: Stack, valves_shim: InstalledShim
) -> None:
    # Issue 10 ignored the user's request here; issue 11's rule (kept on merging) refuses it
    # with an error naming the valve, and nothing is sent upstream.
    path = f"/api/v1/functions/id/{FUNCTION_ID}/valves/user"
    with stack.admin.client() as client:
        assert client.post(f"{path}/update", json={"REQUEST_ZDR": True}).status_code == 200
    try:
        stack.simulator.clear_requests()
        complete(stack.admin, valves_shim.model("sim/text"), "zdr please")
        honoured = stack.simulator.requests()[-1]["body"]
        stack.simulator.clear_requests()
        with valves_set(stack.admin, FUNCTION_ID, ALLOW_USER_ZDR_OVERRIDE=False):
            refused = complete(stack.admin, valves_shim.model("sim/text"), "zdr please")
        sent_when_refused = stack.simulator.requests()
    finally:
        with stack.admin.client() as client:
            client.post(f"{path}/update", json={})
    assert honoured["provider"] == {"zdr": True}
    assert "REQUEST_ZDR" in refused["choices"][0]["message"]["content"]
    assert sent_when_refused == []


def test_show_tool_cards_saves_a_tool_card_in_the_answer(
    stack: Stack, valves_shim: InstalledShim
) -> None:
    with valves_set(stack.admin, FUNCTION_ID, SHOW_TOOL_CARDS=True):
        chat_id = _ui_chat(stack, valves_shim.model("sim/tool-call"), "weather?")["chat_id"]
    content = assistant_message(saved_chat(stack.admin, chat_id))["content"]
    assert '<details type="tool_calls" done="true"' in content
    assert 'name="get_weather"' in content


def test_tool_execution_mode_passthrough_lets_open_webui_run_the_tool(
    stack: Stack, valves_shim: InstalledShim
) -> None:
    with valves_set(stack.admin, FUNCTION_ID, TOOL_EXECUTION_MODE="passthrough"):
        chat_id = _ui_chat(stack, valves_shim.model("sim/tool-call"), "weather?")["chat_id"]
    message = assistant_message(saved_chat(stack.admin, chat_id))
    assert [item for item in message["output"] if item["type"] == "function_call_output"]


@pytest.mark.parametrize(
    ("valve", "value"),
    [("REASONING_EFFORT", "extreme"), ("DIRECT_UPLOAD_FAILURE_TEMPLATE", "{problem} {user}")],
)
def test_a_value_outside_the_choices_is_refused_by_the_form_and_nothing_is_stored(
    stack: Stack, valves_shim: InstalledShim, valve: str, value: str
) -> None:
    # Open WebUI answers a refused form with a generic "Error updating function valves" (it drops
    # pydantic's message); `pipe-service shim install` names the valve (test_installer.py).
    with stack.admin.client() as client:
        before = client.get(_valves_path(FUNCTION_ID)).json()
        reply = client.post(f"{_valves_path(FUNCTION_ID)}/update", json=before | {valve: value})
        after = client.get(_valves_path(FUNCTION_ID)).json()
    assert reply.status_code == 400
    assert after == before


def test_a_value_the_sidecar_refuses_names_the_valve_in_the_reply(
    stack: Stack, valves_shim: InstalledShim
) -> None:
    with valves_set(stack.admin, FUNCTION_ID, FALLBACK_MODELS="sim/text,,sim/reasoning"):
        reply = complete(stack.admin, valves_shim.model("sim/text"), "bad valve")
    assert "FALLBACK_MODELS" in reply["choices"][0]["message"]["content"]
