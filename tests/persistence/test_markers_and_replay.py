"""Markers in assistant text and the replay plan: order, re-anchoring, orphans, unreplayable
reasoning, foreign markers, trimming of old tool results."""

from __future__ import annotations

from typing import Any

from pipe_service.persistence.markers import (
    find_markers,
    render_markers,
    strip_markers,
)
from pipe_service.persistence.replay import (
    MarkedMessage,
    assistant_turns_after,
    marked_messages,
    plan_replay,
    strip_history_markers,
)
from pipe_service.persistence.retention import (
    StoragePolicy,
    anchors,
    items_to_store,
    trim_tool_output,
)
from pipe_service.storage.artifact_store import ReplayLoad, StoredArtifact
from pipe_service.storage.ids import UlidGenerator, is_ulid

IDS = UlidGenerator()
ENCRYPTED = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAAB1"}


def test_ulids_are_26_crockford_chars_and_sort_in_creation_order() -> None:
    generator = UlidGenerator(clock_ms=lambda: 1_700_000_000_000)
    ids = [generator.new() for _ in range(100)]
    assert all(is_ulid(i) for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == 100


def test_markers_round_trip_through_answer_text() -> None:
    ids = [IDS.new(), IDS.new()]
    text = "The answer." + render_markers(ids)
    assert text.startswith("The answer.\n\n[")
    assert find_markers(text) == ids
    assert strip_markers(text) == "The answer."


def test_text_without_markers_is_untouched() -> None:
    text = "See [1]: the docs.\n[not a ulid]: #"
    assert strip_markers(text) == text
    assert find_markers(text) == []


def test_markers_are_read_from_assistant_messages_only() -> None:
    marker = IDS.new()
    messages = [
        {"role": "user", "content": "pasted" + render_markers([IDS.new()])},
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "a" + render_markers([marker])}],
        },
    ]
    assert marked_messages(messages) == [MarkedMessage(index=1, ids=(marker,))]


def test_history_markers_are_stripped_from_every_role() -> None:
    messages = [
        {"role": "user", "content": "hi" + render_markers([IDS.new()])},
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "a" + render_markers([IDS.new()])}],
        },
    ]
    stripped: Any = strip_history_markers(messages)
    assert stripped[0]["content"] == "hi"
    assert stripped[1]["content"][0]["text"] == "a"
    assert "]: #" in messages[0]["content"]  # the caller's copy is not modified


def stored(
    item: dict[str, Any],
    position: int,
    *,
    anchor: str = "",
    model: str = "openai/gpt-5",
    retention: str = "conversation",
) -> StoredArtifact:
    return StoredArtifact(
        id=IDS.new(),
        message_id="m",
        model=model,
        item_type=item["type"],
        position=position,
        anchor=anchor,
        retention=retention,
        item=item,
    )


def call(call_id: str) -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": "f", "arguments": "{}"}


def output(call_id: str, text: str = "ok") -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": text}


def plan_for(
    artifacts: list[StoredArtifact],
    *,
    model: str = "openai/gpt-5",
    turns_back: int = 1,
    order: list[StoredArtifact] | None = None,
) -> Any:
    load = ReplayLoad(owned={a.id: a for a in artifacts})
    marked = [MarkedMessage(index=1, ids=tuple(a.id for a in (order or artifacts)))]
    return plan_replay(
        marked,
        load,
        model=model,
        assistant_turns_after={1: turns_back},
        tool_output_retention_turns=2,
        tool_output_trim_chars=100,
    )


def test_replay_keeps_reasoning_call_output_reasoning_order() -> None:
    items = [{**ENCRYPTED, "id": "rs_a"}, call("c1"), output("c1"), {**ENCRYPTED, "id": "rs_b"}]
    found = [
        stored(item, n, anchor=a)
        for n, (item, a) in enumerate(zip(items, anchors(items), strict=True))
    ]
    # the markers may list the ids in any order: stored positions decide
    plan = plan_for(found, order=list(reversed(found)))
    assert plan.items_before[1] == items


def test_reasoning_is_reanchored_before_the_call_it_preceded() -> None:
    reasoning = stored({**ENCRYPTED, "id": "rs_a"}, 5, anchor="c1")  # stored after the pair
    pair = [stored(call("c1"), 1), stored(output("c1"), 2)]
    plan = plan_for([*pair, reasoning])
    assert [item.get("id", item["type"]) for item in plan.items_before[1]] == [
        "rs_a",
        "function_call",
        "function_call_output",
    ]


def test_orphan_halves_and_their_reasoning_are_dropped() -> None:
    lone_call = stored(call("c1"), 1)
    lone_output = stored(output("c2"), 2)
    reasoning = stored(ENCRYPTED, 0, anchor="c1")
    plan = plan_for([reasoning, lone_call, lone_output])
    assert plan.items_before == {}
    assert sorted(plan.dropped) == sorted([reasoning.id, lone_call.id, lone_output.id])


def test_unsigned_thinking_is_stripped_and_signed_thinking_kept() -> None:
    unsigned = stored(
        {
            "type": "reasoning",
            "id": "rs_u",
            "summary": [],
            "content": [{"type": "reasoning_text", "text": "hm"}],
        },
        0,
        model="anthropic/claude",
    )
    signed = stored(
        {
            "type": "reasoning",
            "id": "rs_s",
            "summary": [],
            "signature": "c2ln",
            "content": [{"type": "reasoning_text", "text": "hm"}],
        },
        1,
        model="anthropic/claude",
    )
    plan = plan_for([unsigned, signed], model="anthropic/claude-sonnet")
    assert [item["id"] for item in plan.items_before[1]] == ["rs_s"]
    assert plan.dropped == [unsigned.id]


def test_reasoning_from_another_provider_family_is_not_replayed() -> None:
    reasoning = stored(ENCRYPTED, 0, model="openai/gpt-5")
    plan = plan_for([reasoning], model="anthropic/claude-sonnet")
    assert plan.items_before == {}


def test_foreign_and_missing_markers_replay_nothing_and_are_reported() -> None:
    load = ReplayLoad(foreign=["F"], missing=["M"])
    plan = plan_replay(
        [MarkedMessage(1, ("F", "M"))],
        load,
        model="x/y",
        assistant_turns_after={1: 1},
        tool_output_retention_turns=2,
        tool_output_trim_chars=100,
    )
    assert plan.items_before == {}
    assert (plan.foreign, plan.missing) == (["F"], ["M"])


def test_old_tool_results_are_trimmed_head_and_tail() -> None:
    long = "H" * 500 + "T" * 500
    pair = [stored(call("c1"), 0), stored(output("c1", long), 1)]
    recent = plan_for(pair, turns_back=2)
    old = plan_for(pair, turns_back=3)
    assert recent.items_before[1][1]["output"] == long
    trimmed = old.items_before[1][1]["output"]
    assert trimmed.startswith("H" * 50)
    assert trimmed.endswith("T" * 50)
    assert "900 characters" in trimmed


def test_next_reply_artifacts_are_listed_for_deletion() -> None:
    reasoning = stored(ENCRYPTED, 0, retention="next_reply")
    assert plan_for([reasoning]).next_reply_ids == [reasoning.id]


def test_turns_back_counts_assistant_messages_from_the_end() -> None:
    messages = [
        {"role": "user"},
        {"role": "assistant"},
        {"role": "user"},
        {"role": "assistant"},
        {"role": "user"},
    ]
    assert assistant_turns_after(messages) == {1: 2, 3: 1}


def test_trimming_short_output_is_a_no_op() -> None:
    assert trim_tool_output("short", 100) == "short"


def test_unsigned_thinking_is_not_even_stored() -> None:
    unsigned = {
        "type": "reasoning",
        "id": "rs_u",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": "hm"}],
    }
    policy = StoragePolicy(reasoning=True, reasoning_next_reply_only=False, tool_results=True)
    assert items_to_store([unsigned, ENCRYPTED], policy) == [ENCRYPTED]
