"""Valve typing: ``K=V`` strings become the types the Function's valves JSON schema declares.

The schemas come from real pydantic models, exactly as Open WebUI publishes ``Valves`` at
``GET /api/v1/functions/id/{id}/valves/spec`` (``Valves.model_json_schema()``).
"""

from __future__ import annotations

import enum
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

from pipe_service.installer import InstallError, parse_valve_assignments, type_valves
from pipe_service.installer.valves import valves_from_environment


class Mode(enum.Enum):
    PIPELINE = "pipeline"
    PASSTHROUGH = "passthrough"


class Valves(BaseModel):
    SIDECAR_ADDRESSES: str = Field(default="unix:/run/pipe-service/pipe-service.sock")
    SIDECAR_TOKEN: str = ""
    CONNECT_RETRIES: int = 3
    CONNECT_TIMEOUT_S: float = 5.0
    SHOW_REASONING: bool = True
    MAX_TOKENS: int | None = None
    TOOL_EXECUTION_MODE: Literal["pipeline", "passthrough"] = "pipeline"
    MODE_ENUM: Mode = Mode.PIPELINE
    EXTRA_HEADERS: dict[str, str] = Field(default_factory=dict)
    MODELS: list[str] = Field(default_factory=list)


SPEC: dict[str, Any] = Valves.model_json_schema()


def typed(**raw: str) -> dict[str, object]:
    return type_valves(raw, SPEC)


def test_assignments_split_on_the_first_equals_sign() -> None:
    assert parse_valve_assignments(["A=x=y", "B="]) == {"A": "x=y", "B": ""}


def test_a_later_assignment_overrides_an_earlier_one() -> None:
    assert parse_valve_assignments(["A=1", "A=2"]) == {"A": "2"}


def test_an_assignment_without_equals_sign_is_refused() -> None:
    with pytest.raises(InstallError, match="expected NAME=VALUE"):
        parse_valve_assignments(["SIDECAR_TOKEN"])


def test_strings_are_kept_verbatim() -> None:
    assert typed(SIDECAR_ADDRESSES=" unix:/a, http://127.0.0.1:1 ") == {
        "SIDECAR_ADDRESSES": " unix:/a, http://127.0.0.1:1 "
    }


def test_integers_are_parsed() -> None:
    assert typed(CONNECT_RETRIES="7") == {"CONNECT_RETRIES": 7}


def test_floats_are_parsed() -> None:
    assert typed(CONNECT_TIMEOUT_S="2.5") == {"CONNECT_TIMEOUT_S": 2.5}


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("False", False), ("1", True), ("off", False)]
)
def test_booleans_are_parsed(raw: str, expected: bool) -> None:
    assert typed(SHOW_REASONING=raw) == {"SHOW_REASONING": expected}


def test_an_optional_integer_accepts_null() -> None:
    assert typed(MAX_TOKENS="null") == {"MAX_TOKENS": None}


def test_an_optional_integer_accepts_a_number() -> None:
    assert typed(MAX_TOKENS="4096") == {"MAX_TOKENS": 4096}


def test_a_literal_takes_one_of_its_options() -> None:
    assert typed(TOOL_EXECUTION_MODE="passthrough") == {"TOOL_EXECUTION_MODE": "passthrough"}


def test_a_literal_refuses_other_values_and_lists_the_options() -> None:
    with pytest.raises(InstallError, match="is not one of pipeline, passthrough"):
        typed(TOOL_EXECUTION_MODE="native")


def test_an_enum_behind_a_ref_takes_one_of_its_options() -> None:
    assert typed(MODE_ENUM="passthrough") == {"MODE_ENUM": "passthrough"}


def test_objects_and_arrays_are_json() -> None:
    assert typed(EXTRA_HEADERS='{"X-A": "1"}', MODELS='["a/b"]') == {
        "EXTRA_HEADERS": {"X-A": "1"},
        "MODELS": ["a/b"],
    }


def test_a_non_integer_for_an_integer_valve_is_refused() -> None:
    with pytest.raises(InstallError, match=r"CONNECT_RETRIES: .three. is not a valid integer"):
        typed(CONNECT_RETRIES="three")


def test_an_unknown_valve_is_refused_with_the_valid_names() -> None:
    with pytest.raises(InstallError) as caught:
        typed(SIDECAR_ADDRESS="unix:/x")
    message = str(caught.value)
    assert message.startswith("unknown valve(s) SIDECAR_ADDRESS; valid valves: ")
    assert "SIDECAR_ADDRESSES, SIDECAR_TOKEN" in message


def test_a_function_without_valves_refuses_every_valve() -> None:
    with pytest.raises(InstallError, match=r"this Function has no valves"):
        type_valves({"A": "1"}, None)


def test_a_valve_from_the_environment_keeps_the_secret_off_the_command_line() -> None:
    environ = {"SIDECAR_SECRET": "tcp-token-9"}
    assert valves_from_environment(["SIDECAR_TOKEN=SIDECAR_SECRET"], environ) == {
        "SIDECAR_TOKEN": "tcp-token-9"
    }


def test_a_missing_environment_variable_is_named_without_a_value() -> None:
    with pytest.raises(InstallError, match=r"\$NOT_SET_HERE is not set"):
        valves_from_environment(["SIDECAR_TOKEN=NOT_SET_HERE"], {})
