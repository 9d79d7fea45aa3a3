"""An immutable, filtered view of one ``GET /models`` payload.

The registry is pure: it does no I/O. The catalog actor fetches ``/models``, builds a new
registry with :meth:`ModelRegistry.from_payload` and swaps it in whole, so readers never see a
half-built catalog.

Synopsis::

    registry = ModelRegistry.from_payload(payload, CatalogFilterOptions())
    model = registry.require("openai/gpt-4o")
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pipe_service.catalog.capabilities import ModelCapabilities, capabilities_from_row
from pipe_service.catalog.filters import CatalogFilterOptions, filter_models
from pipe_service.catalog.sources import CatalogSources
from pipe_service.catalog.variants import expand_variants

__all__ = ["CatalogPayloadError", "ModelRegistry", "UnknownModelError"]


class UnknownModelError(LookupError):
    """The requested slug is not in the (filtered) catalog."""

    def __init__(self, slug: str) -> None:
        super().__init__(
            f"model {slug!r} is not available: it is not in the OpenRouter catalog or is "
            "hidden by the catalog filters (allowlist, free or tool-calling mode)"
        )
        self.slug = slug


class CatalogPayloadError(ValueError):
    """The ``/models`` payload has no list of models at all."""


class ModelRegistry:
    """Filtered model capabilities keyed by OpenRouter slug, in catalog order."""

    __slots__ = ("_by_slug", "fetched_at", "skipped_rows")

    def __init__(
        self,
        models: Sequence[ModelCapabilities],
        *,
        fetched_at: float,
        skipped_rows: int = 0,
    ) -> None:
        # A later duplicate slug replaces an earlier one (OpenRouter never sends duplicates;
        # a merged payload might).
        self._by_slug: dict[str, ModelCapabilities] = {model.slug: model for model in models}
        self.fetched_at = fetched_at
        """Unix time (seconds) the payload was fetched."""
        self.skipped_rows = skipped_rows
        """Rows dropped because they were not objects or had no ``id``."""

    @classmethod
    def from_payload(
        cls,
        payload: Mapping[str, Any] | Sequence[Any],
        options: CatalogFilterOptions,
        *,
        fetched_at: float | None = None,
        zdr_model_ids: frozenset[str] | None = None,
        providers: Mapping[str, tuple[str, ...]] | None = None,
    ) -> ModelRegistry:
        """Build a registry from ``{"data": [row, ...]}`` (a bare row list is accepted too).

        Malformed rows are skipped and counted in :attr:`skipped_rows`; a payload with no list
        of rows raises :class:`CatalogPayloadError`. ``fetched_at`` defaults to now.
        ``zdr_model_ids`` (ids or permaslugs with a ZDR endpoint) sets each model's ``zdr``
        (``:free`` models never count); ``providers`` sets provider lists by slug. Admin
        variants are added after filtering, each inheriting from its base.
        """
        rows = payload.get("data") if isinstance(payload, Mapping) else payload
        if not isinstance(rows, Sequence) or isinstance(rows, str | bytes):
            raise CatalogPayloadError("/models payload has no 'data' list of models")
        models: list[ModelCapabilities] = []
        skipped = 0
        for row in rows:
            if not isinstance(row, Mapping):
                skipped += 1
                continue
            try:
                model = capabilities_from_row(row)
            except ValueError:
                skipped += 1
                continue
            models.append(_annotated(model, zdr_model_ids, providers or {}))
        return cls(
            expand_variants(filter_models(models, options), options.variants),
            fetched_at=time.time() if fetched_at is None else fetched_at,
            skipped_rows=skipped,
        )

    @classmethod
    def from_sources(cls, sources: CatalogSources, options: CatalogFilterOptions) -> ModelRegistry:
        """A registry from one refresh's :class:`CatalogSources`."""
        return cls.from_payload(
            sources.models,
            options,
            zdr_model_ids=sources.zdr_model_ids,
            providers=sources.providers,
        )

    def get(self, slug: str) -> ModelCapabilities | None:
        """The model with this slug, or ``None``."""
        return self._by_slug.get(slug)

    def require(self, slug: str) -> ModelCapabilities:
        """The model with this slug; raises :class:`UnknownModelError` when absent."""
        model = self._by_slug.get(slug)
        if model is None:
            raise UnknownModelError(slug)
        return model

    def list(self) -> list[ModelCapabilities]:
        """All models, in catalog order."""
        return list(self._by_slug.values())

    def __contains__(self, slug: object) -> bool:
        return slug in self._by_slug

    def __iter__(self) -> Iterator[ModelCapabilities]:
        return iter(self._by_slug.values())

    def __len__(self) -> int:
        return len(self._by_slug)


def _annotated(
    model: ModelCapabilities,
    zdr_model_ids: frozenset[str] | None,
    providers: Mapping[str, tuple[str, ...]],
) -> ModelCapabilities:
    updates: dict[str, Any] = {}
    if zdr_model_ids is not None:
        listed = model.slug in zdr_model_ids or model.canonical_slug in zdr_model_ids
        # A free variant shares its permaslug with the paid model but is served by endpoints
        # that may keep data; video generation runs as stored jobs (the seed's rule too).
        excluded = model.slug.endswith(":free") or "video" in model.output_modalities
        updates["zdr"] = listed and not excluded
    if model.slug in providers:
        updates["providers"] = providers[model.slug]
    return dataclasses.replace(model, **updates) if updates else model
