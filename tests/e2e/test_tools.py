"""A workspace tool called through the shim in both tool execution modes.

``pipeline``: the sidecar runs the tool loop and asks the shim (``tool_call`` frames) to run the
tool inside Open WebUI. ``passthrough``: the shim streams ``tool_calls`` and Open WebUI's native
loop runs the tool, then calls the pipe again with the result. Either way the saved answer is
the simulator's ``Tool results: <output>.``
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import InstalledShim, Stack
from tests.e2e.owui_rest import assistant_message, create_tool, saved_chat
from tests.e2e.ui_chat import UiChat

pytestmark = pytest.mark.e2e

TOOL_ID = "e2e_weather"
TOOL_SOURCE = '''
class Tools:
    def get_weather(self, city: str) -> str:
        """
        The current weather in a city.
        :param city: the city's name
        """
        return f"Sunny in {city}, 21 C"
'''


@pytest.fixture(scope="module")
def weather_tool(stack: Stack) -> str:
    create_tool(stack.admin, TOOL_ID, TOOL_SOURCE)
    return TOOL_ID


def chat_with_tool(stack: Stack, model: str, tool_id: str) -> dict[str, Any]:
    with UiChat(
        stack.owui.python, stack.owui.url, stack.admin.jwt, model, "weather?", tool_ids=tool_id
    ) as chat:
        chat_id = chat.started()["chat_id"]
        chat.finished()
    return assistant_message(saved_chat(stack.admin, chat_id))


def test_pipeline_mode_runs_the_tool_through_the_sidecar_loop(
    stack: Stack, shim: InstalledShim, weather_tool: str
) -> None:
    message = chat_with_tool(stack, shim.model("sim/tool-call"), weather_tool)
    assert str(message["content"]).startswith("Tool results: Sunny in Paris, 21 C.")
    assert "Ran get_weather" in str(message["statusHistory"])


def test_builtin_tools_of_features_the_user_did_not_enable_stay_home(
    stack: Stack, shim: InstalledShim, weather_tool: str
) -> None:
    # Open WebUI hands a UI chat ~28 built-in tools; BUILTIN_TOOLS=chat (the default) lets
    # through only those of the chat's enabled features (none here): the workspace tool alone.
    stack.simulator.clear_requests()
    chat_with_tool(stack, shim.model("sim/tool-call"), weather_tool)
    first = stack.simulator.requests()[0]["body"]
    names = [tool.get("name") for tool in first.get("tools", []) if tool.get("type") == "function"]
    assert names == ["get_weather"]


def test_passthrough_mode_runs_the_tool_in_open_webuis_loop(
    stack: Stack, passthrough_shim: InstalledShim, weather_tool: str
) -> None:
    message = chat_with_tool(stack, passthrough_shim.model("sim/tool-call"), weather_tool)
    assert str(message["content"]).startswith("Tool results: Sunny in Paris, 21 C.")
    outputs = [item for item in message["output"] if item["type"] == "function_call_output"]
    assert outputs[0]["output"] == [{"type": "input_text", "text": "Sunny in Paris, 21 C"}]
