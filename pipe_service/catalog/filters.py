"""Which catalog models to expose: allowlist, free-model and tool-calling filters.

The options mirror the seed pipe's ``MODEL_ID``, ``FREE_MODEL_FILTER`` and
``TOOL_CALLING_FILTER`` valves. Filters keep the input order and never add models.

Synopsis::

    options = CatalogFilterOptions(model_allowlist="anthropic/*, openai/gpt-4o")
    visible = filter_models(all_models, options.model_copy(update={"free_mode": "exclude"}))
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipe_service.catalog.capabilities import ModelCapabilities
from pipe_service.catalog.variants import VariantSpec, parse_variant

__all__ = [
    "CatalogFilterOptions",
    "FilterMode",
    "filter_models",
    "matches_allowlist",
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

    zdr_only: bool = Field(
        default=False,
        description=(
            "Default false. Show only models with a zero-data-retention endpoint (from "
            "OpenRouter's /endpoints/zdr list; ':free' models never count). While that list "
            "cannot be fetched the previous catalog stays."
        ),
    )
    variant_models: tuple[str, ...] = Field(
        default=(),
        description=(
            "Default empty. Extra model ids offered with their base model's metadata: "
            "'<slug>:<variant>' (nitro, floor, exacto, online, thinking, extended, free) or "
            "'@preset/<name>=<slug>'. Sent to OpenRouter unchanged."
        ),
    )

    @field_validator("variant_models")
    @classmethod
    def _variants_parse(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            parse_variant(entry)  # raises ValueError naming the entry and the fix
        return tuple(entry.strip() for entry in value)

    @property
    def variants(self) -> tuple[VariantSpec, ...]:
        """The parsed ``variant_models``."""
        return tuple(parse_variant(entry) for entry in self.variant_models)

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
    """The models that pass every filter, in input order."""
    patterns = options.allowlist_patterns
    return [
        model
        for model in models
        if matches_allowlist(model.slug, patterns)
        and _mode_allows(options.free_mode, model.is_free)
        and _mode_allows(options.tool_calling_mode, model.tools)
        and (not options.zdr_only or model.zdr is True)
    ]


def _mode_allows(mode: FilterMode, has_property: bool) -> bool:
    if mode == "only":
        return has_property
    if mode == "exclude":
        return not has_property
    return True


def _patterns(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())
