"""What is stored and how replayed tool results are trimmed.

Storing: reasoning (only replayable reasoning: encrypted or signed) follows
``reasoning_retention`` (``off`` stores none, ``next_reply`` marks it
for deletion once replayed) and the user's ``persist_reasoning`` choice; tool calls and their
results are stored (as pairs only) when ``persist_tool_results`` and the user's choice allow.

Replaying: a tool result from more than ``tool_output_retention_turns`` assistant turns back is
cut to its head and tail, so old, long results stop costing context.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pipe_service.config.persistence import PersistenceSettings, ReasoningRetention

STORED_TYPES: Final = frozenset({"reasoning", "function_call", "function_call_output"})
TRIM_NOTICE: Final = "\n…[{omitted} characters of an old tool result omitted]…\n"


@dataclass(frozen=True, slots=True)
class StoragePolicy:
    """The effective storage choices for one turn."""

    reasoning: bool
    reasoning_next_reply_only: bool
    tool_results: bool

    @property
    def stores_anything(self) -> bool:
        return self.reasoning or self.tool_results


_RETENTION_ORDER: Final[tuple[ReasoningRetention, ...]] = ("off", "next_reply", "conversation")


def storage_policy(
    settings: PersistenceSettings,
    *,
    user_reasoning: ReasoningRetention | None = None,
    user_tool_results: bool | None = None,
) -> StoragePolicy:
    """Admin settings narrowed by the user's choices (a user can keep less, never more)."""
    retention = settings.reasoning_retention if settings.enabled else "off"
    if user_reasoning is not None:
        retention = min(retention, user_reasoning, key=_RETENTION_ORDER.index)
    tools = settings.enabled and settings.persist_tool_results
    return StoragePolicy(
        reasoning=retention != "off",
        reasoning_next_reply_only=retention == "next_reply",
        tool_results=tools and user_tool_results is not False,
    )


def items_to_store(items: Sequence[dict[str, Any]], policy: StoragePolicy) -> list[dict[str, Any]]:
    """The items of a finished turn worth storing, in order: reasoning (if allowed) and tool
    call/result *pairs* (a call without its result, or the reverse, is never stored)."""
    calls = {i.get("call_id") for i in items if i.get("type") == "function_call"}
    outputs = {i.get("call_id") for i in items if i.get("type") == "function_call_output"}
    paired = calls & outputs
    kept: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("type")
        wanted = (
            policy.reasoning and reasoning_is_replayable(item)
            if kind == "reasoning"
            else (
                policy.tool_results
                and kind in ("function_call", "function_call_output")
                and item.get("call_id") in paired
            )
        )
        if wanted:
            kept.append(item)
    return kept


def anchors(items: Sequence[dict[str, Any]]) -> list[str]:
    """For each item, the ``call_id`` of the next function call after it ('' = the answer).

    Replay puts a reasoning item right before the call it preceded, whatever else moved.
    """
    result = [""] * len(items)
    following = ""
    for index in range(len(items) - 1, -1, -1):
        result[index] = following
        if items[index].get("type") == "function_call":
            following = str(items[index].get("call_id", ""))
    return result


def trim_tool_output(output: str, keep_chars: int) -> str:
    """``output`` cut to ``keep_chars`` (half head, half tail) with a notice in between."""
    if len(output) <= keep_chars:
        return output
    head = keep_chars // 2
    tail = keep_chars - head
    notice = TRIM_NOTICE.format(omitted=len(output) - keep_chars)
    return output[:head] + notice + output[len(output) - tail :]


def reasoning_is_replayable(item: Mapping[str, Any]) -> bool:
    """A provider accepts reasoning back only encrypted or signed: ``encrypted_content``, or
    ``content`` with a ``signature`` (unsigned thinking is refused, so it is never kept)."""
    if item.get("encrypted_content"):
        return True
    return bool(item.get("signature")) and bool(item.get("content"))
