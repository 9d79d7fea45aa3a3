"""Responses payload → chat-completions body: one rule per row (docs/upstream.md)."""

from __future__ import annotations

from typing import Any

import pytest

from pipe_service.openrouter.chat_completions import responses_payload_to_chat

CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "instructions become a leading system message",
        {"model": "m", "instructions": "Be brief.", "input": [{"role": "user", "content": "hi"}]},
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hi"},
            ],
        },
    ),
    (
        "a bare string input is one user message",
        {"model": "m", "input": "hello"},
        {"model": "m", "messages": [{"role": "user", "content": "hello"}]},
    ),
    (
        "user parts become chat parts",
        {
            "model": "m",
            "input": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "look"},
                        {"type": "input_image", "image_url": "https://x/i.png", "detail": "auto"},
                        {"type": "input_file", "filename": "a.pdf", "file_data": "data:..."},
                        {"type": "input_audio", "input_audio": {"data": "AAA", "format": "wav"}},
                        {"type": "input_video", "video_url": "https://x/v.mp4"},
                    ],
                }
            ],
        },
        {
            "model": "m",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://x/i.png", "detail": "auto"},
                        },
                        {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:..."}},
                        {"type": "input_audio", "input_audio": {"data": "AAA", "format": "wav"}},
                        {"type": "video_url", "video_url": {"url": "https://x/v.mp4"}},
                    ],
                }
            ],
        },
    ),
    (
        "function calls join the assistant message and outputs become tool messages",
        {
            "model": "m",
            "input": [
                {"role": "user", "content": "weather?"},
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Checking."}],
                },
                {"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
            ],
        },
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "content": "Checking.",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "w", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            ],
        },
    ),
    (
        "signed reasoning rides on the next assistant message",
        {
            "model": "m",
            "input": [
                {"role": "user", "content": "q"},
                {
                    "type": "reasoning",
                    "id": "rs1",
                    "summary": [],
                    "content": [{"type": "reasoning_text", "text": "think"}],
                    "signature": "sig",
                    "format": "anthropic-claude-v1",
                },
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "a"}],
                },
            ],
        },
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "q"},
                {
                    "role": "assistant",
                    "content": "a",
                    "reasoning_details": [
                        {
                            "type": "reasoning.text",
                            "text": "think",
                            "signature": "sig",
                            "format": "anthropic-claude-v1",
                            "index": 0,
                        }
                    ],
                },
            ],
        },
    ),
    (
        "encrypted reasoning before a tool call opens an assistant message for it",
        {
            "model": "m",
            "input": [
                {"role": "user", "content": "q"},
                {
                    "type": "reasoning",
                    "id": "rs1",
                    "summary": [],
                    "encrypted_content": "gAAA",
                    "format": "openai-responses-v1",
                },
                {"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{}"},
            ],
        },
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "q"},
                {
                    "role": "assistant",
                    "content": None,
                    "reasoning_details": [
                        {
                            "type": "reasoning.encrypted",
                            "data": "gAAA",
                            "format": "openai-responses-v1",
                            "index": 0,
                        }
                    ],
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "w", "arguments": "{}"},
                        }
                    ],
                },
            ],
        },
    ),
    (
        "function tools nest under function; server tools pass; tool_choice is renamed",
        {
            "model": "m",
            "input": "x",
            "tools": [
                {"type": "function", "name": "w", "parameters": {"type": "object"}, "strict": True},
                {"type": "openrouter:datetime"},
            ],
            "tool_choice": {"type": "function", "name": "w"},
            "parallel_tool_calls": False,
        },
        {
            "model": "m",
            "parallel_tool_calls": False,
            "messages": [{"role": "user", "content": "x"}],
            "tools": [
                {
                    "type": "function",
                    "function": {"name": "w", "parameters": {"type": "object"}, "strict": True},
                },
                {"type": "openrouter:datetime"},
            ],
            "tool_choice": {"type": "function", "function": {"name": "w"}},
        },
    ),
    (
        "text format, verbosity, output limit and reasoning map to chat names",
        {
            "model": "m",
            "input": "x",
            "text": {
                "format": {"type": "json_schema", "name": "n", "schema": {}},
                "verbosity": "low",
            },
            "max_output_tokens": 99,
            "reasoning": {"effort": "high", "summary": "auto"},
            "include": ["reasoning.encrypted_content"],
            "store": False,
        },
        {
            "model": "m",
            "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": {}}},
            "verbosity": "low",
            "max_tokens": 99,
            "reasoning": {"effort": "high"},
        },
    ),
    (
        "routing and identity fields pass unchanged",
        {
            "model": "m:nitro",
            "models": ["b"],
            "provider": {"zdr": True},
            "session_id": "s",
            "user": "u",
            "trace": {"trace_id": "t"},
            "plugins": [{"id": "web"}],
            "input": "x",
            "stream": True,
        },
        {
            "model": "m:nitro",
            "models": ["b"],
            "provider": {"zdr": True},
            "plugins": [{"id": "web"}],
            "session_id": "s",
            "user": "u",
            "trace": {"trace_id": "t"},
            "stream": True,
            "messages": [{"role": "user", "content": "x"}],
        },
    ),
]


@pytest.mark.parametrize(("rule", "payload", "expected"), CASES, ids=[c[0] for c in CASES])
def test_rule(rule: str, payload: dict[str, Any], expected: dict[str, Any]) -> None:
    assert responses_payload_to_chat(payload) == expected


def test_top_level_cache_control_becomes_breakpoints_on_system_and_last_two_user_messages() -> None:
    ttl = {"type": "ephemeral", "ttl": "1h"}
    payload = {
        "model": "anthropic/claude",
        "instructions": "sys",
        "cache_control": ttl,
        "input": [
            {"role": "user", "content": "one"},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "a"}],
            },
            {"role": "user", "content": "two"},
            {"role": "user", "content": [{"type": "input_text", "text": "three"}]},
        ],
    }
    messages = responses_payload_to_chat(payload)["messages"]
    marked = [
        (message["role"], part["text"])
        for message in messages
        if isinstance(message["content"], list)
        for part in message["content"]
        if part.get("cache_control") == ttl
    ]
    assert marked == [("system", "sys"), ("user", "two"), ("user", "three")]
    assert messages[1] == {"role": "user", "content": "one"}
    assert "cache_control" not in responses_payload_to_chat(payload)


def test_the_payload_is_not_modified() -> None:
    payload = {
        "model": "m",
        "instructions": "s",
        "cache_control": {"type": "ephemeral"},
        "input": "x",
    }
    snapshot = repr(payload)
    responses_payload_to_chat(payload)
    assert repr(payload) == snapshot
