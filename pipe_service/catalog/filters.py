"""Which catalog models to expose: allowlist, free-model and tool-calling filters.

The options mirror the seed pipe's ``MODEL_ID``, ``FREE_MODEL_FILTER`` and
``TOOL_CALLING_FILTER`` valves. Filters keep the input order and never add models.

Synopsis::

    options = CatalogFilterOptions(model_allowlist="anthropic/*, openai/gpt-4o")
    visible = filter_models(all_models, options.model_copy(update={"free_mode": "exclude"}))
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from fnmatch import fnmatchcase
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipe_service.catalog.capabilities import ModelCapabilities

__all__ = [
    "CatalogFilterOptions",
    "FilterMode",
    "filter_models",
    "matches_allowlist",
    "with_variants",
]

FilterMode = Literal["all", "only", "exclude"]
ALLOW_ALL = "auto"


class CatalogFilterOptions(BaseModel):
    """Admin settings that narrow the OpenRouter catalog shown in Open WebUI."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_allowlist: str = Field(
        default=ALLOW_ALL,
        description=(
            "Default 'auto' (every catalog model). Otherwise a comma-separated list of "
            "OpenRouter slugs or glob patterns matched case-sensitively against the slug "
            "('anthropic/*', 'openai/gpt-4o*', '*:free'); blanks around commas are ignored. "
            "Must not be empty."
        ),
    )
    free_mode: FilterMode = Field(
        default="all",
        description=(
            "Default 'all'. 'only' keeps free models (':free' suffix or zero prompt and "
            "completion price), 'exclude' drops them; routers with unknown ('-1') prices are "
            "never free."
        ),
    )
    tool_calling_mode: FilterMode = Field(
        default="all",
        description=(
            "Default 'all'. 'only' keeps models whose supported_parameters list 'tools' or "
            "'tool_choice'; 'exclude' keeps the others."
        ),
    )

    variants: tuple[str, ...] = Field(
        default=(),
        description=(
            "Default empty. Extra models `base/slug:variant` (e.g. `openai/gpt-4o:nitro`, "
            "`anthropic/claude-sonnet-4.5:thinking`): each is listed like its base model, "
            "with the variant in its name, when the base is in the catalog (the seed's "
            "VARIANT_MODELS)."
        ),
    )

    @field_validator("variants")
    @classmethod
    def _variants_are_base_colon_tag(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            base, _, tag = entry.strip().rpartition(":")
            if not base or "/" not in base or not tag:
                raise ValueError(f"variants: {entry!r} is not 'author/model:variant'")
        return tuple(entry.strip() for entry in value)

    @field_validator("model_allowlist")
    @classmethod
    def _allowlist_not_blank(cls, value: str) -> str:
        if not _patterns(value):
            raise ValueError("model_allowlist is empty; use 'auto' to expose every model")
        return value.strip()

    @property
    def allowlist_patterns(self) -> tuple[str, ...] | None:
        """The allowlist patterns, or ``None`` when every model is allowed."""
        patterns = _patterns(self.model_allowlist)
        return None if ALLOW_ALL in patterns else patterns


def matches_allowlist(slug: str, patterns: tuple[str, ...] | None) -> bool:
    """``slug`` equals or glob-matches one of ``patterns`` (``None`` allows everything)."""
    if patterns is None:
        return True
    return any(slug == pattern or fnmatchcase(slug, pattern) for pattern in patterns)


def filter_models(
    models: Iterable[ModelCapabilities], options: CatalogFilterOptions
) -> list[ModelCapabilities]:
    """The models (and configured variants) that pass all three filters, in input order."""
    patterns = options.allowlist_patterns
    return [
        model
        for model in with_variants(models, options.variants)
        if matches_allowlist(model.slug, patterns)
        and _mode_allows(options.free_mode, model.is_free)
        and _mode_allows(options.tool_calling_mode, model.tools)
    ]


def with_variants(
    models: Iterable[ModelCapabilities], variants: tuple[str, ...]
) -> list[ModelCapabilities]:
    """``models`` plus each variant whose base model is among them (right after its base);
    a variant OpenRouter already lists is not added twice."""
    listed = list(models)
    if not variants:
        return listed
    present = {model.slug for model in listed}
    by_base: dict[str, list[str]] = {}
    for entry in variants:
        base, _, _tag = entry.rpartition(":")
        if entry not in present:
            by_base.setdefault(base, []).append(entry)
    result: list[ModelCapabilities] = []
    for model in listed:
        result.append(model)
        for slug in by_base.get(model.slug, ()):
            tag = slug.rpartition(":")[2]
            free = model.is_free or tag == "free"
            result.append(replace(model, slug=slug, name=f"{model.name} ({tag})", is_free=free))
    return result


def _mode_allows(mode: FilterMode, has_property: bool) -> bool:
    if mode == "only":
        return has_property
    if mode == "exclude":
        return not has_property
    return True


def _patterns(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())
