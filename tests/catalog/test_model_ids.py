"""Slug ↔ Open WebUI model-id encoding: examples, rejection of bad ids, round-trip properties."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipe_service.catalog.model_ids import (
    InvalidModelIdError,
    owui_id_to_slug,
    slug_to_owui_id,
    split_owui_model_id,
    sub_id_to_slug,
)
from tests.catalog.fixture_catalog import fixture_ids, load_fixture_rows

SAFE_SUB_ID = re.compile(r"[A-Za-z0-9._-]+")


@pytest.mark.parametrize(
    ("slug", "sub_id"),
    [
        ("openai/gpt-4o", "openai__gpt-4o"),
        ("anthropic/claude-sonnet-4.5", "anthropic__claude-sonnet-4.5"),
        ("anthropic/claude-3.7-sonnet:thinking", "anthropic__claude-3.7-sonnet_3athinking"),
        ("~openai/gpt-latest", "_7eopenai__gpt-latest"),
        ("@preset/my_preset", "_40preset__my_5fpreset"),
        ("acme/modèle", "acme__mod_c3_a8le"),
    ],
)
def test_slug_encodes_to_documented_sub_id(slug: str, sub_id: str) -> None:
    assert slug_to_owui_id(slug) == sub_id


def test_full_id_splits_at_the_first_dot_only() -> None:
    assert split_owui_model_id("openrouter_pipe.anthropic__claude-sonnet-4.5") == (
        "openrouter_pipe",
        "anthropic__claude-sonnet-4.5",
    )


def test_full_id_decodes_to_slug_with_dots_intact() -> None:
    assert owui_id_to_slug("pipe.google__gemini-2.5-pro") == "google/gemini-2.5-pro"


def test_function_id_mismatch_is_rejected() -> None:
    with pytest.raises(InvalidModelIdError, match="belongs to function 'other'"):
        owui_id_to_slug("other.openai__gpt-4o", function_id="pipe")


def test_matching_function_id_is_accepted() -> None:
    assert owui_id_to_slug("pipe.openai__gpt-4o", function_id="pipe") == "openai/gpt-4o"


@pytest.mark.parametrize("model_id", ["openai__gpt-4o", ".openai__gpt-4o", "pipe.", ""])
def test_id_without_function_and_sub_part_is_rejected(model_id: str) -> None:
    with pytest.raises(InvalidModelIdError):
        owui_id_to_slug(model_id)


@pytest.mark.parametrize(
    "sub_id",
    [
        "openai/gpt-4o",  # raw slash is never produced
        "a:b",  # raw colon is never produced
        "a_zz",  # not hex
        "a_3",  # truncated escape
        "a_2fb",  # escaped '/' must be spelled '__'
        "a_61",  # escaped kept character 'a'
        "a_c3",  # incomplete UTF-8 sequence
        "a_3A",  # uppercase hex is not canonical
    ],
)
def test_non_canonical_sub_id_is_rejected(sub_id: str) -> None:
    with pytest.raises(InvalidModelIdError):
        sub_id_to_slug(sub_id)


def test_empty_slug_is_rejected() -> None:
    with pytest.raises(InvalidModelIdError):
        slug_to_owui_id("")


def test_lone_surrogate_slug_is_rejected() -> None:
    with pytest.raises(InvalidModelIdError):
        slug_to_owui_id("a/\ud800")


REALISTIC_SLUG = st.from_regex(
    r"[~@]?[a-z0-9][a-z0-9\-]{0,20}/[a-z0-9][a-z0-9.\-_]{0,30}(:[a-z]{1,10})?", fullmatch=True
)
ANY_SLUG = st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40)


@given(REALISTIC_SLUG)
def test_realistic_slugs_round_trip_through_full_ids(slug: str) -> None:
    model_id = f"openrouter_pipe.{slug_to_owui_id(slug)}"
    assert owui_id_to_slug(model_id, function_id="openrouter_pipe") == slug


@given(ANY_SLUG)
def test_any_text_round_trips_and_encodes_to_the_safe_alphabet(slug: str) -> None:
    sub_id = slug_to_owui_id(slug)
    assert SAFE_SUB_ID.fullmatch(sub_id)
    assert sub_id_to_slug(sub_id) == slug


@given(st.text(alphabet="ab_3af.-/:", max_size=12))
def test_decoding_is_canonical(sub_id: str) -> None:
    # Any sub id that decodes must be the one encoding of its slug (no aliases).
    try:
        slug = sub_id_to_slug(sub_id)
    except InvalidModelIdError:
        return
    assert slug_to_owui_id(slug) == sub_id


def test_every_fixture_id_round_trips() -> None:
    slugs = [str(row["id"]) for row in load_fixture_rows()]
    encoded = {slug_to_owui_id(slug) for slug in slugs}
    assert len(encoded) == len(slugs)  # distinct slugs stay distinct
    for slug in slugs:
        sub_id = slug_to_owui_id(slug)
        assert "/" not in sub_id
        assert owui_id_to_slug(f"pipe.{sub_id}") == slug


@pytest.mark.parametrize("slug", fixture_ids())
def test_fixture_id_is_url_safe(slug: str) -> None:
    assert SAFE_SUB_ID.fullmatch(slug_to_owui_id(slug))
