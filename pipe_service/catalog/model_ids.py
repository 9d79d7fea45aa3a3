"""Reversible mapping between OpenRouter slugs and Open WebUI model ids.

Open WebUI names a manifold pipe's models ``"<function_id>.<sub_id>"`` and routes a request with
``model_id.split(".", 1)[0]``; a function id is a Python identifier, so it never holds a dot.
Sub ids travel in URLs and must not hold ``/``. OpenRouter slugs hold ``/``, ``:``, ``~``,
``@`` and dots (``anthropic/claude-3.7-sonnet:thinking``, ``~openai/gpt-latest``).

Encoding of a slug into a sub id (and back, exactly):

* ``A-Z a-z 0-9 . -`` are kept as they are (dots included, so ``claude-sonnet-4.5`` stays
  readable);
* ``/`` becomes ``__`` (the common case gets the short form);
* every other character becomes ``_`` plus two lowercase hex digits per UTF-8 byte
  (``:`` → ``_3a``, ``~`` → ``_7e``, ``_`` → ``_5f``, ``@`` → ``_40``).

``_`` only ever starts an escape, so decoding is unambiguous: ``__`` is a slash and ``_hh`` a
byte. Example: ``anthropic/claude-3.7-sonnet:thinking`` ↔
``anthropic__claude-3.7-sonnet_3athinking``.

Parsing a full Open WebUI id: the function id is everything before the FIRST dot (as Open WebUI
itself splits) and the rest, dots included, is the encoded sub id. A bare sub id is not a
model id; decode it with :func:`sub_id_to_slug`.

Synopsis::

    owui_id = f"{function_id}.{slug_to_owui_id(slug)}"
    assert owui_id_to_slug(owui_id) == slug
"""

from __future__ import annotations

import re

__all__ = [
    "InvalidModelIdError",
    "owui_id_to_slug",
    "slug_to_owui_id",
    "split_owui_model_id",
    "sub_id_to_slug",
]

_ESCAPE = "_"
_SLASH_CODE = "__"
_KEPT = re.compile(r"[A-Za-z0-9.\-]")
_HEX_PAIR = re.compile(r"[0-9a-f]{2}")


class InvalidModelIdError(ValueError):
    """A string is not a valid encoded sub id or Open WebUI model id."""


def slug_to_owui_id(slug: str) -> str:
    """Encode an OpenRouter slug as an Open WebUI sub id (no ``/``; see module docstring)."""
    if not slug:
        raise InvalidModelIdError("an OpenRouter slug must not be empty")
    out: list[str] = []
    for char in slug:
        if _KEPT.fullmatch(char):
            out.append(char)
        elif char == "/":
            out.append(_SLASH_CODE)
        else:
            try:
                raw = char.encode("utf-8")
            except UnicodeEncodeError as exc:  # lone surrogates cannot be ids
                raise InvalidModelIdError(f"slug {slug!r} is not valid Unicode text") from exc
            out.extend(f"{_ESCAPE}{byte:02x}" for byte in raw)
    return "".join(out)


def sub_id_to_slug(sub_id: str) -> str:
    """Decode a sub id made by :func:`slug_to_owui_id` back into the OpenRouter slug."""
    if not sub_id:
        raise InvalidModelIdError("a model sub id must not be empty")
    out: list[str] = []
    pending = bytearray()  # escaped UTF-8 bytes of one multi-byte character
    index = 0
    while index < len(sub_id):
        char = sub_id[index]
        if char != _ESCAPE:
            if not _KEPT.fullmatch(char):
                raise InvalidModelIdError(
                    f"model sub id {sub_id!r} holds {char!r} at {index}, which is never encoded"
                )
            _flush(pending, out, sub_id)
            out.append(char)
            index += 1
        elif sub_id.startswith(_SLASH_CODE, index):
            _flush(pending, out, sub_id)
            out.append("/")
            index += 2
        elif _HEX_PAIR.fullmatch(sub_id[index + 1 : index + 3]):
            pending.append(int(sub_id[index + 1 : index + 3], 16))
            index += 3
        else:
            raise InvalidModelIdError(f"model sub id {sub_id!r} has a bad escape at {index}")
    _flush(pending, out, sub_id)
    return "".join(out)


def split_owui_model_id(model_id: str) -> tuple[str, str]:
    """Split ``"<function_id>.<sub_id>"`` at the first dot into its two parts."""
    function_id, dot, sub_id = model_id.partition(".")
    if not dot or not function_id or not sub_id:
        raise InvalidModelIdError(
            f"model id {model_id!r} is not of the form '<function_id>.<sub_id>'"
        )
    return function_id, sub_id


def owui_id_to_slug(model_id: str, *, function_id: str | None = None) -> str:
    """Decode a full Open WebUI model id into its OpenRouter slug.

    When ``function_id`` is given, the id must belong to that function.
    """
    owner, sub_id = split_owui_model_id(model_id)
    if function_id is not None and owner != function_id:
        raise InvalidModelIdError(
            f"model id {model_id!r} belongs to function {owner!r}, not {function_id!r}"
        )
    return sub_id_to_slug(sub_id)


def _flush(pending: bytearray, out: list[str], sub_id: str) -> None:
    if not pending:
        return
    try:
        text = pending.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidModelIdError(f"model sub id {sub_id!r} escapes invalid UTF-8") from exc
    # Only one spelling per slug: an escaped '/' or kept character would alias another id.
    if any(char == "/" or _KEPT.fullmatch(char) for char in text):
        raise InvalidModelIdError(f"model sub id {sub_id!r} escapes a character needlessly")
    out.append(text)
    pending.clear()
