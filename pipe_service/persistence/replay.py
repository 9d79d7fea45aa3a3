"""Replay: turn the markers of a chat's assistant messages back into Responses input items.

Steps (the gateway runs them before building the payload):

1. :func:`marked_messages` finds the marker ids of each assistant message;
2. the store loads them in one read, for the requesting owner and chat only
   (:func:`~pipe_service.storage.artifact_store.load_for_replay`);
3. :func:`plan_replay` orders what came back per message and drops what must not go upstream:

   * orphan halves: a ``function_call`` without its ``function_call_output`` (or the reverse);
   * unreplayable reasoning: no ``encrypted_content`` and no signed ``content`` (e.g. unsigned
     Anthropic thinking), or reasoning made by another model family than the one now asked
     (a provider cannot read another provider's encrypted reasoning);
   * reasoning whose tool call was dropped (it must not dangle without its following item);

   then re-anchors each reasoning item right before the tool call it preceded (the rest keep
   their original order) and trims tool results older than the retention window;
4. :func:`strip_history_markers` removes every marker line from the history text.

Markers naming another owner's or chat's artifacts replay nothing; they are counted in
:attr:`ReplayPlan.foreign` for the caller to log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipe_service.persistence.markers import find_markers, strip_markers
from pipe_service.persistence.retention import reasoning_is_replayable, trim_tool_output
from pipe_service.storage.artifact_store import ReplayLoad, StoredArtifact


@dataclass(frozen=True, slots=True)
class MarkedMessage:
    """An assistant message (by index in ``messages``) and the artifact ids it names."""

    index: int
    ids: tuple[str, ...]


@dataclass(slots=True)
class ReplayPlan:
    """Items to insert before each assistant message's answer, and what was left out."""

    items_before: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    replayed_ids: list[str] = field(default_factory=list)
    next_reply_ids: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    @property
    def item_count(self) -> int:
        return sum(len(items) for items in self.items_before.values())


def marked_messages(messages: object) -> list[MarkedMessage]:
    """Assistant messages that carry markers (only assistant text is ever read for markers)."""
    if not isinstance(messages, list):
        return []
    marked = []
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping) or message.get("role") != "assistant":
            continue
        ids = find_markers(_text_of(message.get("content")))
        if ids:
            marked.append(MarkedMessage(index=index, ids=tuple(ids)))
    return marked


def strip_history_markers(messages: object) -> object:
    """``messages`` with marker lines removed from every text (a copy; the input is kept)."""
    if not isinstance(messages, list):
        return messages
    return [_strip_message(message) for message in messages]


def plan_replay(
    marked: Sequence[MarkedMessage],
    load: ReplayLoad,
    *,
    model: str,
    assistant_turns_after: Mapping[int, int],
    tool_output_retention_turns: int,
    tool_output_trim_chars: int,
) -> ReplayPlan:
    """Order and filter the loaded artifacts per message (see the module docstring)."""
    plan = ReplayPlan(foreign=list(load.foreign), missing=list(load.missing))
    plan.dropped.extend(load.unreadable)
    family = _family(model)
    for message in marked:
        found = sorted(
            (load.owned[i] for i in message.ids if i in load.owned), key=lambda a: a.position
        )
        kept = _replayable(found, family, plan)
        old = assistant_turns_after.get(message.index, 0) > tool_output_retention_turns
        items = [
            _trimmed(artifact.item, tool_output_trim_chars) if old else artifact.item
            for artifact in _anchored(kept)
        ]
        if items:
            plan.items_before[message.index] = items
        for artifact in kept:
            plan.replayed_ids.append(artifact.id)
            if artifact.retention == "next_reply":
                plan.next_reply_ids.append(artifact.id)
    return plan


def assistant_turns_after(messages: object) -> dict[int, int]:
    """For each assistant message index: how many assistant messages come after it, plus one
    (the reply being made now), i.e. how many turns back it is."""
    if not isinstance(messages, list):
        return {}
    indexes = [
        i for i, m in enumerate(messages) if isinstance(m, Mapping) and m.get("role") == "assistant"
    ]
    return {index: len(indexes) - position for position, index in enumerate(indexes)}


def _replayable(
    artifacts: list[StoredArtifact], family: str, plan: ReplayPlan
) -> list[StoredArtifact]:
    calls = {a.item.get("call_id") for a in artifacts if a.item_type == "function_call"}
    outputs = {a.item.get("call_id") for a in artifacts if a.item_type == "function_call_output"}
    paired = calls & outputs
    kept: list[StoredArtifact] = []
    for artifact in artifacts:
        if artifact.item_type in ("function_call", "function_call_output"):
            ok = artifact.item.get("call_id") in paired
        elif artifact.item_type == "reasoning":
            ok = (
                reasoning_is_replayable(artifact.item)
                and _family(artifact.model) == family
                and (not artifact.anchor or artifact.anchor in paired)
            )
        else:
            ok = False
        if ok:
            kept.append(artifact)
        else:
            plan.dropped.append(artifact.id)
    return kept


def _anchored(artifacts: list[StoredArtifact]) -> list[StoredArtifact]:
    """Reasoning right before the call it preceded; everything else in stored order."""
    reasoning_for: dict[str, list[StoredArtifact]] = {}
    final_reasoning: list[StoredArtifact] = []
    others: list[StoredArtifact] = []
    for artifact in artifacts:
        if artifact.item_type == "reasoning":
            target = reasoning_for.setdefault(artifact.anchor, []) if artifact.anchor else None
            (target if target is not None else final_reasoning).append(artifact)
        else:
            others.append(artifact)
    ordered: list[StoredArtifact] = []
    for artifact in others:
        if artifact.item_type == "function_call":
            ordered.extend(reasoning_for.pop(str(artifact.item.get("call_id")), []))
        ordered.append(artifact)
    # Reasoning anchored to a call that is not here was dropped by _replayable already.
    return ordered + final_reasoning


def _family(model: str) -> str:
    """The provider family of a model slug (``openai/gpt-5`` → ``openai``)."""
    return model.split("/", 1)[0] if "/" in model else model


def _trimmed(item: dict[str, Any], keep_chars: int) -> dict[str, Any]:
    output = item.get("output")
    if item.get("type") != "function_call_output" or not isinstance(output, str):
        return item
    return {**item, "output": trim_tool_output(output, keep_chars)}


def _text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"]
            for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        )
    return ""


def _strip_message(message: object) -> object:
    if not isinstance(message, Mapping):
        return message
    content = message.get("content")
    if isinstance(content, str):
        stripped: object = strip_markers(content)
    elif isinstance(content, list):
        stripped = [
            {**part, "text": strip_markers(part["text"])}
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
            else part
            for part in content
        ]
    else:
        return message
    return {**message, "content": stripped}
