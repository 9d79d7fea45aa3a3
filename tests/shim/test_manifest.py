"""The shim file as Open WebUI sees it: frontmatter, a self-contained import, valves that
mean "not set" until an admin or user sets them."""

from __future__ import annotations

import re
import sys
import types

from tests.shim.harness import SHIM_PATH, load_shim

FRONTMATTER_LINE = re.compile(r"^\s*([a-z_]+):\s*(.*)\s*$", re.IGNORECASE)


def _frontmatter() -> dict[str, str]:
    lines = SHIM_PATH.read_text(encoding="utf-8").splitlines()
    assert lines[0] == '"""'
    keys: dict[str, str] = {}
    for line in lines[1:]:
        if '"""' in line:
            break
        match = FRONTMATTER_LINE.match(line)
        if match:
            keys[match.group(1)] = match.group(2).strip()
    return keys


def test_frontmatter_carries_the_manifest_keys() -> None:
    manifest = _frontmatter()
    assert {"title", "author", "version", "license", "description"} <= manifest.keys()
    assert manifest["required_open_webui_version"] == "0.12.4"
    assert manifest.get("requirements", "") == ""


def test_loads_outside_open_webui_without_importing_it() -> None:
    shim = load_shim()
    assert isinstance(shim.Pipe(), shim.Pipe)
    assert not any(name == "open_webui" or name.startswith("open_webui.") for name in sys.modules)


def test_request_scoped_valves_default_to_unset(shim: types.ModuleType) -> None:
    pipe = shim.Pipe()
    assert pipe._request_valves() == {}


def test_set_request_scoped_valves_are_forwarded_and_blanks_are_unset(
    shim: types.ModuleType,
) -> None:
    pipe = shim.Pipe()
    pipe.valves = shim.Pipe.Valves(
        REASONING_EFFORT="high", SEND_USER_ID="true", TOOL_EXECUTION_MODE="", ENABLE_WEB_SEARCH=None
    )
    assert pipe._request_valves() == {"REASONING_EFFORT": "high", "SEND_USER_ID": True}


def test_user_valves_default_to_unset(shim: types.ModuleType) -> None:
    assert shim._user_valves(shim.Pipe.UserValves()) == {}


def test_user_valves_forward_only_set_fields(shim: types.ModuleType) -> None:
    valves = shim.Pipe.UserValves(
        REASONING_EFFORT="low", REQUEST_ZDR="false", THINKING_OUTPUT_MODE=""
    )
    assert shim._user_valves(valves) == {"REASONING_EFFORT": "low", "REQUEST_ZDR": False}


def test_enumerated_valves_render_as_dropdowns(shim: types.ModuleType) -> None:
    schema = shim.Pipe.UserValves.model_json_schema()["properties"]
    assert schema["REASONING_EFFORT"]["input"] == {
        "type": "select",
        "options": ["none", "minimal", "low", "medium", "high", "xhigh", "max"],
    }
    assert schema["USAGE_STATUS_STYLE"]["input"]["options"] == ["text", "icons"]
    assert schema["TOOL_EXECUTION_MODE"]["input"]["options"] == ["pipeline", "passthrough"]


def test_persistence_user_valves_are_forwarded_when_set(shim: types.ModuleType) -> None:
    valves = shim.Pipe.UserValves(PERSIST_REASONING_TOKENS="disabled", PERSIST_TOOL_RESULTS="false")
    assert shim._user_valves(valves) == {
        "PERSIST_REASONING_TOKENS": "disabled",
        "PERSIST_TOOL_RESULTS": False,
    }
    schema = shim.Pipe.UserValves.model_json_schema()["properties"]
    assert schema["PERSIST_REASONING_TOKENS"]["input"]["options"] == [
        "disabled",
        "next_reply",
        "conversation",
    ]
