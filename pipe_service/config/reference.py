"""Render the configuration reference (docs/configuration.md's settings table) from the model."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from pipe_service.config.loading import env_name, section_model
from pipe_service.config.settings import CONVENTIONAL_ENV, Settings

_HEADER = [
    "| setting | environment | default | allowed | description |",
    "|---|---|---|---|---|",
]


def render_reference() -> str:
    """Markdown tables (top level, then one per section): setting, variable, default, range."""
    aliases = {field: env for env, field in CONVENTIONAL_ENV.items()}
    lines = ["### Top level", "", *_HEADER]
    sections: list[tuple[str, type[BaseModel], FieldInfo]] = []
    for name, field in Settings.model_fields.items():
        model = section_model(name)
        if model is not None:
            sections.append((name, model, field))
            continue
        env = f"`{env_name(name)}`"
        if name in aliases:
            env += f", `{aliases[name]}`"
        lines.append(_row(name, env, field))
    for section, model, field in sections:
        lines += ["", f"### [{section}]", "", field.description or "", "", *_HEADER]
        for name, sub_field in model.model_fields.items():
            lines.append(
                _row(f"{section}.{name}", f"`{env_name(section + '.' + name)}`", sub_field)
            )
    return "\n".join(lines)


def _row(name: str, env: str, field: FieldInfo) -> str:
    description = (field.description or "").replace("|", "\\|")
    return f"| `{name}` | {env} | {_default(field)} | {_allowed(field)} | {description} |"


def _default(field: FieldInfo) -> str:
    if field.default_factory is dict or field.default_factory is tuple:
        return "empty"
    if field.default is PydanticUndefined or field.default is None:
        return "unset"
    if field.default == ():
        return "empty"
    return f"`{field.default}`"


def _allowed(field: FieldInfo) -> str:
    bounds = []
    for meta in field.metadata:
        for attr, symbol in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            value = getattr(meta, attr, None)
            if value is not None:
                bounds.append(f"{symbol} {value}")
        pattern = getattr(meta, "pattern", None)
        if pattern:
            bounds.append(f"matches `{pattern}`")
        max_length = getattr(meta, "max_length", None)
        if max_length:
            bounds.append(f"≤ {max_length} chars")
    annotation = str(field.annotation)
    if annotation.startswith("dict["):
        return _table(field.annotation)
    if "Literal" in annotation:
        choices = annotation[annotation.index("[") + 1 : annotation.rindex("]")]
        return choices.replace("'", "`").replace(", ", " \\| ")
    kind = (
        annotation.replace("typing.", "")
        .replace("pathlib.", "")
        .replace("pydantic.types.", "")
        .replace("pipe_service.transform.options.", "")
        .replace("pipe_service.transform.routing_options.", "")
        .replace("<class '", "")
        .replace("'>", "")
        .replace(" | ", " or ")
    )
    return ", ".join([kind, *bounds])


def _table(annotation: object) -> str:
    """A dict setting as ``table: key → value``, each named by its type or choices."""
    key, value = get_args(annotation)

    def name(part: object) -> str:
        choices = get_args(part) if get_origin(part) is Literal else ()
        if choices:
            return " \\| ".join(f"`{choice}`" for choice in choices)
        return getattr(part, "__name__", str(part))

    key_name = "a name from the description" if get_origin(key) is Literal else name(key)
    return f"table: {key_name} → {name(value)}"


REFERENCE_HEADING = "## Settings"


def update_reference_doc(path: Path) -> bool:
    """Rewrite everything after ``## Settings`` in ``path`` with the current reference.

    Returns True when the file changed.
    """
    text = path.read_text(encoding="utf-8")
    head, found, _ = text.partition(REFERENCE_HEADING)
    if not found:
        raise ValueError(f"{path} has no {REFERENCE_HEADING!r} heading to write under")
    updated = f"{head}{REFERENCE_HEADING}\n\n{render_reference()}\n"
    if updated == text:
        return False
    path.write_text(updated, encoding="utf-8")
    return True
