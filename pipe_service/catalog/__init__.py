"""The OpenRouter model catalog: capabilities, model-id encoding, filters and the registry."""

from __future__ import annotations

from pipe_service.catalog.capabilities import (
    ModelCapabilities,
    ModelPricing,
    capabilities_from_row,
)
from pipe_service.catalog.filters import CatalogFilterOptions, filter_models
from pipe_service.catalog.model_ids import (
    InvalidModelIdError,
    owui_id_to_slug,
    slug_to_owui_id,
    split_owui_model_id,
    sub_id_to_slug,
)
from pipe_service.catalog.registry import CatalogPayloadError, ModelRegistry, UnknownModelError

__all__ = [
    "CatalogFilterOptions",
    "CatalogPayloadError",
    "InvalidModelIdError",
    "ModelCapabilities",
    "ModelPricing",
    "ModelRegistry",
    "UnknownModelError",
    "capabilities_from_row",
    "filter_models",
    "owui_id_to_slug",
    "slug_to_owui_id",
    "split_owui_model_id",
    "sub_id_to_slug",
]
