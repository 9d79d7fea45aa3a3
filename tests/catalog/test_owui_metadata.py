"""Open WebUI capability checkboxes derived from catalog rows."""

from __future__ import annotations

from pipe_service.catalog.capabilities import capabilities_from_row
from pipe_service.catalog.owui_metadata import owui_capabilities, owui_model_metadata


def _row(inputs: list[str], params: list[str], outputs: list[str] | None = None) -> dict:
    return {
        "id": "maker/model",
        "description": "A model.",
        "architecture": {"input_modalities": inputs, "output_modalities": outputs or ["text"]},
        "supported_parameters": params,
    }


def test_a_text_only_model_gets_no_attachment_control() -> None:
    caps = owui_capabilities(capabilities_from_row(_row(["text"], ["tools"])))
    assert caps["vision"] is False
    assert caps["file_upload"] is False


def test_an_image_model_gets_vision_and_the_attachment_control() -> None:
    caps = owui_capabilities(capabilities_from_row(_row(["text", "image"], [])))
    assert caps["vision"] is True
    assert caps["file_upload"] is True


def test_a_file_model_gets_the_attachment_control_without_vision() -> None:
    caps = owui_capabilities(capabilities_from_row(_row(["text", "file"], [])))
    assert caps["vision"] is False
    assert caps["file_upload"] is True


def test_tool_based_features_need_tool_calling() -> None:
    without = owui_capabilities(capabilities_from_row(_row(["text"], [])))
    with_tools = owui_capabilities(capabilities_from_row(_row(["text"], ["tools"])))
    assert not without["builtin_tools"]
    assert not without["code_interpreter"]
    assert with_tools["builtin_tools"]
    assert with_tools["code_interpreter"]
    assert with_tools["web_search"]


def test_image_output_models_get_image_generation() -> None:
    caps = owui_capabilities(capabilities_from_row(_row(["text"], [], ["text", "image"])))
    assert caps["image_generation"] is True


def test_metadata_carries_the_catalog_description() -> None:
    fields = owui_model_metadata(capabilities_from_row(_row(["text"], [])))
    assert fields["description"] == "A model."
    assert fields["capabilities"]["usage"] is True
