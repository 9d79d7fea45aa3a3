"""Routing preferences as settings: OpenRouter's ``provider`` object and per-model rules.

``ProviderRouting`` mirrors the Responses ``provider`` field (only set fields are sent);
``ModelRoutingRule`` attaches one to the models its globs match, and says whether users may
send their own. Both are frozen and validated at start-up.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["MaxPrice", "ModelRoutingRule", "ProviderRouting", "ProviderSort", "Quantization"]

Quantization = Literal[
    "int4", "int8", "fp4", "mxfp4", "nvfp4", "fp6", "fp8", "mxfp8", "fp16", "bf16", "fp32",
    "unknown",
]  # fmt: skip
ProviderSort = Literal["price", "throughput", "latency", "exacto"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class MaxPrice(BaseModel):
    """Highest acceptable price per unit, USD; sent as decimal strings."""

    model_config = _FROZEN

    prompt: Decimal | None = Field(default=None, ge=0, description="Default unset; ≥ 0.")
    completion: Decimal | None = Field(default=None, ge=0, description="Default unset; ≥ 0.")
    request: Decimal | None = Field(default=None, ge=0, description="Default unset; ≥ 0.")
    image: Decimal | None = Field(default=None, ge=0, description="Default unset; ≥ 0.")
    audio: Decimal | None = Field(default=None, ge=0, description="Default unset; ≥ 0.")


class ProviderRouting(BaseModel):
    """OpenRouter ``provider`` routing preferences; unset fields are not sent."""

    model_config = _FROZEN

    order: tuple[str, ...] | None = Field(
        default=None, description="Default unset. Provider slugs to try first, in order."
    )
    only: tuple[str, ...] | None = Field(
        default=None, description="Default unset. Allow only these provider slugs."
    )
    ignore: tuple[str, ...] | None = Field(
        default=None, description="Default unset. Never use these provider slugs."
    )
    allow_fallbacks: bool | None = Field(
        default=None, description="Default unset (OpenRouter: true). Fall back to others."
    )
    require_parameters: bool | None = Field(
        default=None, description="Default unset. Only providers supporting every parameter."
    )
    data_collection: Literal["allow", "deny"] | None = Field(
        default=None, description="Default unset. 'deny' avoids providers that store data."
    )
    zdr: bool | None = Field(
        default=None, description="Default unset. Only zero-data-retention endpoints."
    )
    sort: ProviderSort | None = Field(
        default=None, description="Default unset. One of price, throughput, latency, exacto."
    )
    quantizations: tuple[Quantization, ...] | None = Field(
        default=None, description="Default unset. Allowed quantizations (int4 … fp32, unknown)."
    )
    max_price: MaxPrice | None = Field(
        default=None, description="Default unset. Price ceilings per unit (USD)."
    )
    preferred_min_throughput: float | None = Field(
        default=None,
        gt=0,
        description="Default unset. Prefer providers above this many tokens/s (p50).",
    )
    preferred_max_latency: float | None = Field(
        default=None,
        gt=0,
        description="Default unset. Prefer providers below this time to first token (s, p50).",
    )

    @field_validator("order", "only", "ignore")
    @classmethod
    def _non_empty_slugs(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and any(not slug.strip() for slug in value):
            raise ValueError("provider slugs must be non-empty strings")
        return value

    def to_payload(self) -> dict[str, Any]:
        """The ``provider`` object for the Responses request (prices as strings)."""
        payload = self.model_dump(mode="json", exclude_none=True)
        for key in ("order", "only", "ignore", "quantizations"):
            if key in payload:
                payload[key] = list(payload[key])
        return payload


class ModelRoutingRule(BaseModel):
    """Provider routing for the models matching ``models`` (the first matching rule wins)."""

    model_config = _FROZEN

    models: tuple[str, ...] = Field(
        min_length=1,
        description="OpenRouter slugs or glob patterns ('anthropic/*') this rule covers.",
    )
    routing: ProviderRouting = Field(
        default_factory=ProviderRouting,
        description="The admin's `provider` preferences for these models (merged over the "
        "global `provider_routing`).",
    )
    user_override: bool = Field(
        default=False,
        description="Default false. Users may send their own routing for these models "
        "(user valve PROVIDER_ROUTING); when false such a request is refused.",
    )

    @field_validator("models")
    @classmethod
    def _patterns_non_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not pattern.strip() for pattern in value):
            raise ValueError("model_routing models entries must be non-empty slugs or globs")
        return tuple(pattern.strip() for pattern in value)
