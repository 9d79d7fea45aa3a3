"""Parse client JSON strictly: only what can travel on to OpenRouter unchanged is accepted.

Python's ``json`` accepts more than JSON: ``NaN``/``Infinity`` (which no JSON encoder may write
back), lone UTF-16 surrogates through ``\\ud800`` escapes (which cannot be encoded as UTF-8, so
the upstream request would crash while being sent), and nesting deep enough to raise
``RecursionError`` in the decoder or in any recursive code after it. The two client entry points
(shim frames and OpenAI bodies) parse with :func:`loads_strict`, so every such input becomes a
clear client error at the door instead of an internal error somewhere downstream.

Synopsis::

    try:
        body = loads_strict(raw)
    except UnacceptableJsonError as exc:
        return bad_request(str(exc))
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

MAX_JSON_DEPTH: Final = 128
"""Deepest nesting of arrays/objects accepted. Real chat bodies and tool schemas stay far below
it; the decoder's own recursion limit (~1,000) is what it keeps clients away from."""

_SURROGATE: Final = re.compile("[\ud800-\udfff]")


class UnacceptableJsonError(ValueError):
    """The text is not JSON this service accepts; ``str(err)`` says why (no payload echoed)."""


def _refuse_constant(name: str) -> Any:
    raise UnacceptableJsonError(f"{name} is not a JSON number")


def loads_strict(raw: str | bytes | bytearray, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Decode ``raw`` (UTF-8 when bytes) and check the result; raise on anything not portable."""
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except UnacceptableJsonError:
        raise
    except RecursionError:
        raise UnacceptableJsonError(f"JSON nested deeper than {max_depth} levels") from None
    except UnicodeDecodeError:
        raise UnacceptableJsonError("body is not valid UTF-8") from None
    except ValueError as exc:  # JSONDecodeError
        raise UnacceptableJsonError(f"not valid JSON ({_reason(exc)})") from None
    check_tree(value, max_depth=max_depth)
    return value


def check_tree(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Walk a decoded value without recursion: bounded depth, no lone surrogates in strings."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict):
            if depth > max_depth:
                raise UnacceptableJsonError(f"JSON nested deeper than {max_depth} levels")
            for key, child in item.items():
                _check_text(key)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            if depth > max_depth:
                raise UnacceptableJsonError(f"JSON nested deeper than {max_depth} levels")
            stack.extend((child, depth + 1) for child in item)


def _check_text(text: str) -> None:
    # isascii() is O(1) in CPython (a flag on the string), so long ASCII text costs nothing.
    if not text.isascii() and _SURROGATE.search(text) is not None:
        raise UnacceptableJsonError("a string holds a lone UTF-16 surrogate (invalid Unicode)")


def _reason(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    return type(exc).__name__
