"""SurrogateCarry: surrogate pairs split across deltas are joined, strays replaced."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from pipe_service.chat.surrogates import SurrogateCarry


def test_pair_split_across_deltas_is_joined() -> None:
    carry = SurrogateCarry()
    assert [carry.push("smile \ud83d"), carry.push("\ude00!"), carry.flush()] == [
        "smile ",
        "😀!",
        "",
    ]


def test_lone_low_surrogate_is_replaced() -> None:
    assert SurrogateCarry().push("a\ude00b") == "a\ufffdb"


def test_high_surrogate_followed_by_non_surrogate_is_replaced() -> None:
    carry = SurrogateCarry()
    assert carry.push("x\ud83d") == "x"
    assert carry.push("y") == "\ufffdy"


def test_flush_releases_dangling_high_surrogate_as_replacement() -> None:
    carry = SurrogateCarry()
    carry.push("z\ud83d")
    assert carry.flush() == "\ufffd"


def split_utf16(text: str, cuts: list[int]) -> list[str]:
    """Cut ``text`` at UTF-16 code-unit positions (possibly between a pair's halves)."""
    units = text.encode("utf-16-le", "surrogatepass")
    bounds = [0, *sorted(cuts), len(units) // 2]
    return [
        units[2 * a : 2 * b].decode("utf-16-le", "surrogatepass")
        for a, b in itertools.pairwise(bounds)
    ]


def push_all(pieces: list[str]) -> str:
    carry = SurrogateCarry()
    return "".join(carry.push(piece) for piece in pieces) + carry.flush()


@given(st.text(), st.data())
def test_valid_text_split_anywhere_rejoins_exactly(text: str, data: st.DataObject) -> None:
    limit = len(text.encode("utf-16-le")) // 2
    cuts = data.draw(st.lists(st.integers(0, limit), max_size=6))
    assert push_all(split_utf16(text, cuts)) == text


# Lone surrogates, astral characters (pairs in UTF-16) and plain ones, densely mixed.
_messy_text = st.text(
    st.one_of(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), st.sampled_from("a😀é"))
)


@given(_messy_text, st.data())
def test_any_text_comes_out_encodable_and_split_independent(text: str, data: st.DataObject) -> None:
    limit = len(text.encode("utf-16-le", "surrogatepass")) // 2
    cuts = data.draw(st.lists(st.integers(0, limit), max_size=6))
    joined = push_all(split_utf16(text, cuts))
    joined.encode("utf-8")  # raises if a lone surrogate survived
    assert joined == push_all([text])
