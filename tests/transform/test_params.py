"""Sampling, output limit, text format and reasoning: one rule per test."""

from __future__ import annotations

from typing import Any

import pytest

from pipe_service.transform.options import TransformOptions, UserOverrides
from pipe_service.transform.payload import RequestTransformError, transform_request
from tests.transform.models import BARE, body, build, model

# Sampling ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [("temperature", 0.7), ("top_p", 0.9), ("top_k", 40), ("presence_penalty", -1.5),
     ("frequency_penalty", 2)],
)  # fmt: skip
def test_supported_sampling_parameter_is_sent(key: str, value: float) -> None:
    assert build(body(**{key: value}))[key] == value


@pytest.mark.parametrize(
    "key", ["temperature", "top_p", "top_k", "presence_penalty", "frequency_penalty"]
)
def test_unsupported_sampling_parameter_is_dropped(key: str) -> None:
    assert key not in build(body(**{key: 1}), BARE)


@pytest.mark.parametrize(
    "key", ["seed", "stop", "n", "logit_bias", "logprobs", "stream_options", "functions"]
)
def test_chat_completions_only_fields_are_never_sent(key: str) -> None:
    assert key not in build(body(**{key: 1}))


@pytest.mark.parametrize(
    ("key", "value"),
    [("temperature", 2.5), ("temperature", "hot"), ("temperature", True),
     ("top_p", -0.1), ("presence_penalty", 3), ("frequency_penalty", float("nan")),
     ("top_k", -1), ("top_k", 1.5)],
)  # fmt: skip
def test_invalid_sampling_value_is_a_request_error(key: str, value: object) -> None:
    with pytest.raises(RequestTransformError) as caught:
        build(body(**{key: value}))
    assert caught.value.field == key


# Output limit --------------------------------------------------------------------------------


def test_max_tokens_becomes_max_output_tokens() -> None:
    assert build(body(max_tokens=500))["max_output_tokens"] == 500


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    assert build(body(max_tokens=500, max_completion_tokens=700))["max_output_tokens"] == 700


def test_max_output_tokens_is_clamped_to_the_model_maximum() -> None:
    assert build(body(max_tokens=99_999))["max_output_tokens"] == 8000


def test_max_output_tokens_is_clamped_to_the_admin_cap() -> None:
    options = TransformOptions(max_output_tokens_cap=1000)
    assert build(body(max_tokens=5000), options=options)["max_output_tokens"] == 1000


def test_no_limit_is_sent_when_the_body_sets_none() -> None:
    assert "max_output_tokens" not in build(body())


def test_model_maximum_is_sent_when_configured_and_body_sets_none() -> None:
    options = TransformOptions(use_model_max_output_tokens=True, max_output_tokens_cap=6000)
    assert build(body(), options=options)["max_output_tokens"] == 6000


def test_limit_is_dropped_for_a_model_without_max_tokens() -> None:
    assert "max_output_tokens" not in build(body(max_tokens=10), BARE)


@pytest.mark.parametrize("value", [0, -5, 2.5, "10", True])
def test_invalid_max_tokens_is_a_request_error(value: object) -> None:
    with pytest.raises(RequestTransformError) as caught:
        build(body(max_tokens=value))
    assert caught.value.field == "max_tokens"


# Text format ---------------------------------------------------------------------------------

SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}}


@pytest.mark.parametrize(
    ("response_format", "text_format"),
    [
        ({"type": "text"}, {"type": "text"}),
        ({"type": "json_object"}, {"type": "json_object"}),
        (
            {"type": "json_schema", "json_schema": {"name": "out", "schema": SCHEMA, "strict": True,
                                                    "description": "the output"}},
            {"type": "json_schema", "name": "out", "schema": SCHEMA, "strict": True,
             "description": "the output"},
        ),
    ],
)  # fmt: skip
def test_response_format_becomes_text_format(
    response_format: dict[str, Any], text_format: dict[str, Any]
) -> None:
    assert build(body(response_format=response_format))["text"] == {"format": text_format}


def test_response_format_is_dropped_with_note_without_structured_outputs() -> None:
    result = transform_request(
        body(response_format={"type": "json_object"}), model=BARE, options=TransformOptions()
    )
    assert "text" not in result.payload
    assert result.notes == ("response_format dropped: acme/bare has no structured outputs",)


@pytest.mark.parametrize(
    ("response_format", "field"),
    [
        ("json", "response_format"),
        ({"type": "yaml"}, "response_format.type"),
        ({"type": "json_schema"}, "response_format.json_schema"),
        ({"type": "json_schema", "json_schema": {"schema": SCHEMA}},
         "response_format.json_schema.name"),
        ({"type": "json_schema", "json_schema": {"name": "x"}},
         "response_format.json_schema.schema"),
        ({"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA, "strict": "y"}},
         "response_format.json_schema.strict"),
    ],
)  # fmt: skip
def test_bad_response_format_is_a_request_error(response_format: object, field: str) -> None:
    with pytest.raises(RequestTransformError) as caught:
        build(body(response_format=response_format), BARE)
    assert caught.value.field == field


def test_verbosity_goes_into_text_for_supporting_models() -> None:
    assert build(body(verbosity="low"))["text"] == {"verbosity": "low"}


def test_verbosity_is_dropped_for_other_models() -> None:
    assert "text" not in build(body(verbosity="low"), BARE)


# Reasoning -----------------------------------------------------------------------------------


def test_reasoning_model_gets_admin_effort_and_summary() -> None:
    payload = build(body())
    assert payload["reasoning"] == {"effort": "medium", "summary": "auto"}


def test_encrypted_reasoning_is_included_by_default() -> None:
    assert build(body())["include"] == ["reasoning.encrypted_content"]


def test_encrypted_reasoning_can_be_turned_off() -> None:
    options = TransformOptions(include_encrypted_reasoning=False)
    assert "include" not in build(body(), options=options)


def test_non_reasoning_model_gets_no_reasoning() -> None:
    payload = build(body(reasoning_effort="high"), model(reasoning=False))
    assert "reasoning" not in payload
    assert "include" not in payload


def test_user_effort_overrides_admin_effort() -> None:
    payload = build(body(), user=UserOverrides(reasoning_effort="high"))
    assert payload["reasoning"]["effort"] == "high"


def test_unset_user_effort_keeps_admin_effort() -> None:
    options = TransformOptions(reasoning_effort="low")
    payload = build(body(), options=options, user=UserOverrides(reasoning_summary="concise"))
    assert payload["reasoning"] == {"effort": "low", "summary": "concise"}


def test_body_effort_overrides_user_effort() -> None:
    payload = build(body(reasoning_effort="minimal"), user=UserOverrides(reasoning_effort="high"))
    assert payload["reasoning"]["effort"] == "minimal"


def test_disabled_summary_is_not_sent() -> None:
    payload = build(body(), options=TransformOptions(reasoning_summary="disabled"))
    assert payload["reasoning"] == {"effort": "medium"}


def test_effort_none_sends_only_the_effort() -> None:
    payload = build(body(reasoning_effort="none"))
    assert payload["reasoning"] == {"effort": "none"}
    assert "include" not in payload


def test_admin_disabled_reasoning_sends_nothing() -> None:
    assert "reasoning" not in build(body(), options=TransformOptions(reasoning_enabled=False))


def test_user_can_enable_reasoning_the_admin_disabled() -> None:
    payload = build(
        body(),
        options=TransformOptions(reasoning_enabled=False),
        user=UserOverrides(reasoning_enabled=True),
    )
    assert payload["reasoning"]["effort"] == "medium"


def test_explicit_body_effort_enables_reasoning() -> None:
    payload = build(body(reasoning_effort="high"), user=UserOverrides(reasoning_enabled=False))
    assert payload["reasoning"]["effort"] == "high"


@pytest.mark.parametrize("effort", ["extreme", 3, ["high"]])
def test_invalid_body_effort_is_a_request_error(effort: object) -> None:
    with pytest.raises(RequestTransformError) as caught:
        build(body(reasoning_effort=effort))
    assert caught.value.field == "reasoning_effort"
