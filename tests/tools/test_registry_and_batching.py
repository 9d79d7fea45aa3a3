"""Offered-tool names (unique, valid, mapped back) and how a round is split into batches."""

from __future__ import annotations

from pipe_service.tools.batching import plan_stages
from pipe_service.tools.contract import ToolInvocation
from pipe_service.tools.registry import ToolRegistry

SEARCH = {"name": "search", "parameters": {"type": "object", "properties": {}}}


def test_a_taken_name_gets_a_numbered_suffix() -> None:
    registry = ToolRegistry.from_specs([SEARCH, {**SEARCH, "description": "other"}])
    assert [b.exposed_name for b in registry.bindings] == ["search", "search_2"]


def test_exposed_name_maps_back_to_the_spec_name_and_position() -> None:
    registry = ToolRegistry.from_specs([SEARCH, {**SEARCH, "description": "other"}])
    binding = registry.resolve("search_2")
    assert binding is not None
    assert (binding.name, binding.spec_index) == ("search", 1)


def test_invalid_characters_are_replaced_and_long_names_cut() -> None:
    registry = ToolRegistry.from_specs([{"name": "files.read now"}, {"name": "x" * 80}])
    assert [b.exposed_name for b in registry.bindings] == ["files_read_now", "x" * 64]


def test_identical_specs_are_offered_once() -> None:
    assert len(ToolRegistry.from_specs([SEARCH, dict(SEARCH)])) == 1


def test_wrapped_specs_are_accepted_and_nameless_ones_skipped() -> None:
    registry = ToolRegistry.from_specs([{"type": "function", "function": SEARCH}, {"x": 1}])
    assert [b.exposed_name for b in registry.bindings] == ["search"]


def test_chat_tools_use_the_exposed_names() -> None:
    registry = ToolRegistry.from_specs([SEARCH, {**SEARCH, "description": "other"}])
    assert registry.chat_tools()[1] == {
        "type": "function",
        "function": {
            "name": "search_2",
            "description": "other",
            "parameters": SEARCH["parameters"],
        },
    }


def invocation(call_id: str, name: str, arguments: str = "{}") -> ToolInvocation:
    return ToolInvocation(call_id, name, arguments)


def shape(invocations: list[ToolInvocation], cap: int = 8) -> list[list[list[str]]]:
    return [
        [[call.invocation.call_id for call in batch.calls] for batch in stage.batches]
        for stage in plan_stages(invocations, cap=cap)
    ]


def test_consecutive_calls_of_one_tool_form_a_batch_up_to_the_cap() -> None:
    round_ = [invocation(f"c{n}", "search") for n in range(5)]
    assert shape(round_, cap=2) == [[["c0", "c1"], ["c2", "c3"], ["c4"]]]


def test_different_tools_form_separate_batches_in_one_stage() -> None:
    round_ = [invocation("a", "search"), invocation("b", "fetch"), invocation("c", "search")]
    assert shape(round_) == [[["a"], ["b"], ["c"]]]


def test_dependency_markers_make_a_call_run_alone_in_order() -> None:
    round_ = [
        invocation("a", "search"),
        invocation("b", "search", '{"sequential": true}'),
        invocation("c", "search"),
    ]
    stages = plan_stages(round_, cap=8)
    assert shape(round_) == [[["a"]], [["b"]], [["c"]]]
    assert [stage.dependent for stage in stages] == [False, True, False]


def test_a_call_naming_another_calls_id_is_dependent() -> None:
    round_ = [invocation("call_7", "fetch"), invocation("call_8", "fetch", '{"ref": "call_7"}')]
    assert shape(round_) == [[["call_7"]], [["call_8"]]]
