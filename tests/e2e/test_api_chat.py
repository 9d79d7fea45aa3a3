"""Chats through Open WebUI's API path (``/api/chat/completions`` without a session): the shim
forwards to the sidecar over its Unix socket, the simulator answers."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import InstalledShim
from tests.e2e.owui_rest import Admin, complete, delta_text, model_ids, stream

pytestmark = pytest.mark.e2e

LEAD = "You said: hello from the e2e suite."


def test_a_non_streaming_chat_returns_the_whole_answer(admin: Admin, shim: InstalledShim) -> None:
    result = complete(admin, shim.model("sim/text"), "hello from the e2e suite")
    message = result["choices"][0]["message"]
    assert message["role"] == "assistant"
    assert message["content"].startswith(LEAD)


def test_a_streaming_chat_streams_the_answer_in_chunks(admin: Admin, shim: InstalledShim) -> None:
    chunks = list(stream(admin, shim.model("sim/text"), "hello from the e2e suite"))
    text = delta_text(chunks)
    assert text.startswith(LEAD)
    assert len([chunk for chunk in chunks if delta_text([chunk])]) >= 1
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_a_streaming_chat_carries_the_reasoning(admin: Admin, shim: InstalledShim) -> None:
    chunks = list(stream(admin, shim.model("sim/reasoning"), "think about it"))
    assert delta_text(chunks, "reasoning_content").strip()
    assert delta_text(chunks).startswith("You said: think about it.")


def test_a_configured_variant_is_a_model_that_answers(admin: Admin, shim: InstalledShim) -> None:
    assert shim.model("sim/text:nitro") in model_ids(admin)
    result = complete(admin, shim.model("sim/text:nitro"), "hello from the e2e suite")
    assert result["choices"][0]["message"]["content"].startswith(LEAD)


def test_a_model_refused_on_responses_answers_once_through_chat_completions(
    admin: Admin, shim: InstalledShim
) -> None:
    text = delta_text(list(stream(admin, shim.model("sim/chat-only"), "hello from the e2e suite")))
    assert text.startswith(LEAD)
    assert text.count("You said:") == 1
