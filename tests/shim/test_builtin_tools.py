"""``BUILTIN_TOOLS``: which of Open WebUI's built-in tools reach the model.

Open WebUI 0.12.4 hands a UI chat about 28 built-in tools (~22 KB of schemas), in ``__tools__``
and, in native mode, in ``body["tools"]``. By default only those of the features the user turned
on for the chat pass.
"""

from __future__ import annotations

import types
from typing import Any


def _builtin(name: str) -> dict[str, Any]:
    return {"tool_id": f"builtin:{name}", "type": "builtin", "spec": {"name": name}, "callable": id}


TOOLS = {
    "search_chats": _builtin("search_chats"),
    "get_current_timestamp": _builtin("get_current_timestamp"),
    "search_web": _builtin("search_web"),
    "fetch_url": _builtin("fetch_url"),
    "execute_code": _builtin("execute_code"),
    "get_weather": {"tool_id": "e2e_weather", "spec": {"name": "get_weather"}, "callable": id},
}
BODY = {
    "messages": [],
    "tools": [{"type": "function", "function": {"name": name}} for name in TOOLS],
}


def _kept(shim: types.ModuleType, choice: str, **features: bool) -> tuple[set[str], set[str]]:
    kept = shim.builtin_tools_kept(choice, features, False)
    tools, body = shim.without_builtin_tools(TOOLS, BODY, kept)
    return set(tools), {tool["function"]["name"] for tool in body.get("tools", [])}


def test_by_default_only_the_tools_of_the_chats_features_pass(shim: types.ModuleType) -> None:
    tools, listed = _kept(shim, "chat", web_search=True)
    assert tools == {"search_web", "fetch_url", "get_weather"}
    assert listed == tools


def test_without_features_only_the_users_own_tools_pass(shim: types.ModuleType) -> None:
    assert _kept(shim, "chat")[0] == {"get_weather"}


def test_all_keeps_every_builtin(shim: types.ModuleType) -> None:
    assert _kept(shim, "all")[0] == set(TOOLS)


def test_none_drops_every_builtin_but_not_workspace_tools(shim: types.ModuleType) -> None:
    assert _kept(shim, "none") == ({"get_weather"}, {"get_weather"})


def test_a_list_names_the_builtins_that_pass(shim: types.ModuleType) -> None:
    assert _kept(shim, "get_current_timestamp, execute_code")[0] == {
        "get_current_timestamp",
        "execute_code",
        "get_weather",
    }


def test_attached_files_let_the_file_tools_through(shim: types.ModuleType) -> None:
    assert "query_chat_files" in shim.builtin_tools_kept("chat", {}, True)
    assert "query_chat_files" not in shim.builtin_tools_kept("chat", {}, False)


def test_a_body_left_without_tools_has_no_tools_key(shim: types.ModuleType) -> None:
    only_builtin = {"search_chats": TOOLS["search_chats"]}
    body = {"messages": [], "tools": [{"type": "function", "function": {"name": "search_chats"}}]}
    _, trimmed = shim.without_builtin_tools(only_builtin, body, frozenset())
    assert "tools" not in trimmed
