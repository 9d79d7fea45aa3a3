"""Hypothesis strategies for hostile client JSON, shared by the frame and transform properties.

``hostile_documents(base)`` takes a strategy of well-formed documents (a request frame, an
OpenAI body) and plants one hostile value at a random path in each: a wrong type, nesting past
the accepted depth, a lone surrogate, NaN/Infinity. It yields the JSON *text* (hostile values
cannot all be produced by ``json.dumps``) and whether the door must refuse it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from pipe_service.strict_json import MAX_JSON_DEPTH

MARKER = "@@HOSTILE@@"

wrong_types = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)


@dataclass(frozen=True)
class Hostile:
    literal: str
    must_refuse: bool
    kind: str


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


hostile_values = st.one_of(
    wrong_types.map(lambda value: Hostile(json.dumps(value), False, "wrong type")),
    st.integers(MAX_JSON_DEPTH + 1, 3000).map(lambda d: Hostile(_nested(d), True, "deep")),
    st.sampled_from(["NaN", "Infinity", "-Infinity"]).map(
        lambda literal: Hostile(literal, True, "non-finite")
    ),
    st.tuples(st.text(max_size=5), st.integers(0xD800, 0xDFFF), st.text(max_size=5)).map(
        lambda parts: Hostile(
            json.dumps(parts[0])[:-1] + f"\\u{parts[1]:04x}" + json.dumps(parts[2])[1:],
            True,
            "surrogate",
        )
    ),
)


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(document, dict):
        for key, value in document.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found.extend(_paths(value, (*prefix, index)))
    return found


def _plant(document: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return MARKER
    head, *rest = path
    if isinstance(document, dict):
        return {**document, head: _plant(document[head], tuple(rest))}
    copy = list(document)
    copy[head] = _plant(copy[head], tuple(rest))
    return copy


@st.composite
def hostile_documents(
    draw: st.DrawFn, base: st.SearchStrategy[dict[str, Any]]
) -> tuple[str, Hostile]:
    """JSON text of a ``base`` document with one value replaced by a hostile one."""
    document = draw(base)
    path = draw(st.sampled_from(_paths(document) or [("extra",)]))
    if path == ("extra",):
        document = {**document, "extra": None}
    hostile = draw(hostile_values)
    planted = _plant(document, path)
    text = json.dumps(planted).replace(json.dumps(MARKER), hostile.literal, 1)
    if not hostile.must_refuse and _has_non_finite(planted):
        # The base may carry NaN/Infinity elsewhere too: then the door must refuse as well.
        hostile = Hostile(hostile.literal, True, "non-finite in the base document")
    return text, hostile


def _has_non_finite(document: Any) -> bool:
    try:
        json.dumps(document, allow_nan=False)
    except ValueError:
        return True
    return False


invalid_utf8 = st.tuples(
    st.binary(max_size=20), st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88"])
).map(lambda parts: b'{"type": "request", "model": "' + parts[0] + parts[1] + b'"}')
"""Bytes that are not UTF-8 (a stray continuation, a truncated sequence, an encoded surrogate)."""
