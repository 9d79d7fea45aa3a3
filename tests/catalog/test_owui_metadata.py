"""Open WebUI capability checkboxes derived from catalog rows."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipe_service.catalog.capabilities import capabilities_from_row
from pipe_service.catalog.owui_metadata import (
    ModelEntrySettings,
    owui_capabilities,
    owui_model_metadata,
)
from pipe_service.config.loading import load_settings


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


def test_an_icon_comes_from_the_first_matching_pattern() -> None:
    model = capabilities_from_row({**_row(["text"], []), "id": "anthropic/claude-x"})
    icons = {
        "openai/*": "https://icons.example/o.png",
        "anthropic/*": "https://icons.example/a.png",
    }
    assert owui_model_metadata(model, icons)["profile_image_url"] == "https://icons.example/a.png"


def test_no_matching_pattern_means_no_icon() -> None:
    model = capabilities_from_row(_row(["text"], []))
    assert "profile_image_url" not in owui_model_metadata(model, {"x/*": "https://i.example/x"})


def test_an_icon_url_that_is_not_an_image_url_is_refused_naming_it() -> None:
    with pytest.raises(ValidationError, match=r"icon_urls\['maker/\*'\]: use an http\(s\) URL"):
        ModelEntrySettings(icon_urls={"maker/*": "javascript:alert(1)"})


def test_icon_urls_are_read_from_the_environment_as_json() -> None:
    settings, _ = load_settings(
        environ={"PIPE_SERVICE_MODEL_ENTRIES__ICON_URLS": '{"sim/*": "https://i.example/s.png"}'}
    )
    assert settings.model_entries.icon_urls == {"sim/*": "https://i.example/s.png"}
