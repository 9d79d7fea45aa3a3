"""UI-style chats: socket.io session, saved chat, events — what a browser user sees and keeps."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import InstalledShim, Stack
from tests.e2e.owui_rest import assistant_message, saved_chat
from tests.e2e.ui_chat import UiChat

pytestmark = pytest.mark.e2e


def ui_chat(stack: Stack, model: str, content: str, **extra: str) -> UiChat:
    return UiChat(stack.owui.python, stack.owui.url, stack.admin.jwt, model, content, **extra)


def test_a_ui_chat_is_saved_with_the_answer(stack: Stack, shim: InstalledShim) -> None:
    with ui_chat(stack, shim.model("sim/text"), "hello from the browser") as chat:
        chat_id = chat.started()["chat_id"]
        chat.finished()
    message = assistant_message(saved_chat(stack.admin, chat_id))
    assert message["content"].startswith("You said: hello from the browser.")
    assert message["done"] is True


def test_a_ui_chat_saves_the_reasoning_as_a_reasoning_output_item(
    stack: Stack, shim: InstalledShim
) -> None:
    # 0.12.4 keeps reasoning out of `content`: it saves it as a `reasoning` item of `output`
    # (the UI renders it as the collapsible "Thought" box).
    with ui_chat(stack, shim.model("sim/reasoning"), "think it through") as chat:
        chat_id = chat.started()["chat_id"]
        chat.finished()
    message = assistant_message(saved_chat(stack.admin, chat_id))
    reasoning = [item for item in message["output"] if item["type"] == "reasoning"]
    assert len(reasoning) == 1
    assert reasoning[0]["content"][0]["text"].startswith("The user wrote: think it through.")
    assert message["content"].startswith("You said: think it through.")


def test_web_citations_arrive_as_status_and_source_events_and_are_saved(
    stack: Stack, shim: InstalledShim
) -> None:
    urls = ["https://example.com/docs/simulator", "https://news.example.org/articles/42"]
    with ui_chat(stack, shim.model("sim/web-citations"), "what is new") as chat:
        chat_id = chat.started()["chat_id"]
        chat.finished()
        statuses = chat.events_of("status")
        sources = chat.events_of("source")
    assert {"description": "Searched the web: what is new", "done": True} in statuses
    assert [source["source"]["url"] for source in sources] == urls
    message = assistant_message(saved_chat(stack.admin, chat_id))
    assert [source["source"]["url"] for source in message["sources"]] == urls
    assert message["statusHistory"][:2] == statuses[:2]
    assert message["content"].startswith("About what is new: Example Docs [1]")


def test_a_follow_up_continues_the_saved_chat(stack: Stack, shim: InstalledShim) -> None:
    with ui_chat(stack, shim.model("sim/text"), "first question") as chat:
        chat_id = chat.started()["chat_id"]
        chat.finished()
    first = assistant_message(saved_chat(stack.admin, chat_id))
    with ui_chat(
        stack, shim.model("sim/text"), "second question", chat_id=chat_id, parent_id=first["id"]
    ) as chat:
        assert chat.started()["chat_id"] == chat_id
        chat.finished()
    history = saved_chat(stack.admin, chat_id)["history"]
    second = assistant_message(saved_chat(stack.admin, chat_id))
    assert second["content"].startswith("You said: second question.")
    assert len(history["messages"]) == 4
