"""Stopping a chat and losing the sidecar: nothing leaks, the user is told, Open WebUI survives.

The sidecar-kill test restarts the sidecar on the same socket when it is done, so the order of
tests does not matter.
"""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import InstalledShim, Stack
from tests.e2e.owui_rest import assistant_message, complete, saved_chat
from tests.e2e.processes import wait_until
from tests.e2e.ui_chat import UiChat

pytestmark = pytest.mark.e2e

REACH_SIDECAR_S = 20.0
SETTLE_S = 15.0


def stalled_chat(stack: Stack, shim: InstalledShim, content: str) -> UiChat:
    """A UI chat on ``sim/stall`` (the simulator stays silent for an hour)."""
    model = shim.model("sim/stall")
    return UiChat(stack.owui.python, stack.owui.url, stack.admin.jwt, model, content)


def wait_for_a_running_turn(stack: Stack) -> None:
    wait_until(
        lambda: stack.sidecar.active_sessions() >= 1,
        limit_s=REACH_SIDECAR_S,
        what="the stalled turn running in the sidecar",
    )


def test_stopping_a_chat_ends_its_sidecar_session(stack: Stack, shim: InstalledShim) -> None:
    with stalled_chat(stack, shim, "wait for me") as chat:
        task_ids = chat.started()["task_ids"]
        wait_for_a_running_turn(stack)
        with stack.admin.client() as client:
            stopped = client.post(f"/api/tasks/stop/{task_ids[0]}")
        assert stopped.status_code == 200, stopped.text
        chat.finished(limit_s=SETTLE_S)
    wait_until(
        lambda: stack.sidecar.active_sessions() == 0,
        limit_s=SETTLE_S,
        what="no active sidecar sessions after the stop",
    )


def test_a_killed_sidecar_ends_the_chat_with_a_clear_error_and_open_webui_survives(
    stack: Stack, shim: InstalledShim
) -> None:
    with stalled_chat(stack, shim, "wait for the crash") as chat:
        chat_id = chat.started()["chat_id"]
        wait_for_a_running_turn(stack)
        stack.sidecar.kill()
        try:
            chat.finished(limit_s=SETTLE_S)
            message = assistant_message(saved_chat(stack.admin, chat_id))
            assert "pipe-service sidecar" in message["content"]
            assert "Try again." in message["content"]
            assert httpx.get(f"{stack.owui.url}/health", timeout=5).json() == {"status": True}
            down = complete(stack.admin, shim.model("sim/text"), "anyone there?")
            assert "sidecar" in down["choices"][0]["message"]["content"]
        finally:
            stack.sidecar.start()
    answer = complete(stack.admin, shim.model("sim/text"), "back again")
    assert answer["choices"][0]["message"]["content"].startswith("You said: back again.")
