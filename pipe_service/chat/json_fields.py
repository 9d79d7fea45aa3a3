"""Typed reads of untyped JSON from upstream: wrong or missing types become neutral values.

Upstream event payloads are ``dict[str, Any]``; these helpers let the translator read them
without a chain of ``isinstance`` checks, treating a wrongly typed field as absent.

Synopsis::

    usage = as_dict(response.get("usage"))   # {} unless it is a dict
    tokens = as_int(usage.get("input_tokens"))  # 0 unless it is a number (bools excluded)
"""

from __future__ import annotations

from typing import Any


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a dict, else ``{}``."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a list, else ``[]``."""
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str:
    """``value`` if it is a string, else ``""``."""
    return value if isinstance(value, str) else ""


def as_optional_str(value: Any) -> str | None:
    """``value`` if it is a non-empty string, else ``None``."""
    return value if isinstance(value, str) and value else None


def as_int(value: Any) -> int:
    """``value`` truncated to int if it is a number (not a bool), else ``0``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return int(value)


def as_optional_float(value: Any) -> float | None:
    """``value`` as float if it is a number (not a bool), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
