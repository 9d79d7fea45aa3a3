"""What one OpenRouter model can do, derived from a ``GET /models`` row.

A row is read defensively: OpenRouter adds, drops and nulls fields over time, so every field
except ``id`` is optional and a missing value falls back to "unknown" or "not supported".

Synopsis::

    caps = capabilities_from_row(row)
    if caps.tools and caps.input_image:
        ...
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "ModelCapabilities",
    "ModelPricing",
    "capabilities_from_row",
]

# OpenRouter marks prices it cannot state up front (routers such as ``openrouter/auto``) as "-1".
_UNKNOWN_PRICE = Decimal(-1)
_FREE_SUFFIX = ":free"


@dataclass(frozen=True, slots=True)
class ModelPricing:
    """Prices in USD per token (per request / image / search for those keys).

    A key missing from the row is ``Decimal(0)`` (the 2026 catalog omits zero prices). ``None``
    means unknown: the router sentinel ``"-1"``, a negative price or an unparsable value.
    """

    prompt: Decimal | None = Decimal(0)
    completion: Decimal | None = Decimal(0)
    request: Decimal | None = Decimal(0)
    image: Decimal | None = Decimal(0)
    web_search: Decimal | None = Decimal(0)
    internal_reasoning: Decimal | None = Decimal(0)
    input_cache_read: Decimal | None = Decimal(0)
    input_cache_write: Decimal | None = Decimal(0)


@dataclass(frozen=True, slots=True)
class ModelCapabilities:
    """One catalog entry, reduced to what request building and filtering need.

    ``reasoning``: ``reasoning`` or ``include_reasoning`` is a supported parameter.
    ``tools``: ``tools`` or ``tool_choice`` is a supported parameter (the seed's rule).
    ``structured_outputs``: ``structured_outputs`` or ``response_format`` is supported.
    ``web_search``: the model can search natively: ``web_search_options`` is a supported
    parameter (OpenAI search previews, Perplexity Sonar) or the row prices ``web_search``
    above zero (provider-native search billed per call, e.g. Claude, Gemini, o3). The seed
    used the price signal alone. OpenRouter's ``web`` plugin works for any model either way.
    """

    slug: str
    name: str
    description: str = ""
    created: int | None = None
    context_length: int | None = None
    max_output_tokens: int | None = None
    input_image: bool = False
    input_file: bool = False
    input_audio: bool = False
    input_video: bool = False
    output_modalities: frozenset[str] = frozenset({"text"})
    reasoning: bool = False
    tools: bool = False
    parallel_tool_calls: bool = False
    structured_outputs: bool = False
    web_search: bool = False
    supported_parameters: frozenset[str] = frozenset()
    pricing: ModelPricing = ModelPricing()
    is_free: bool = False
    canonical_slug: str = ""
    variant_of: str | None = None
    """For a variant or preset id configured by the admin: the catalog model it inherits from."""
    providers: tuple[str, ...] = ()
    """Provider slugs (endpoint tags) serving the model, when the catalog fetched them."""
    zdr: bool | None = None
    """Whether a zero-data-retention endpoint serves the model; None when unknown."""

    @property
    def base_slug(self) -> str:
        """The slug model-family rules read: the base model's for a variant or preset."""
        return self.variant_of or self.slug

    @property
    def output_image(self) -> bool:
        """The model can return images."""
        return "image" in self.output_modalities

    @property
    def output_audio(self) -> bool:
        """The model can return audio."""
        return "audio" in self.output_modalities

    def supports(self, parameter: str) -> bool:
        """``parameter`` is listed in the row's ``supported_parameters``."""
        return parameter in self.supported_parameters


def capabilities_from_row(row: Mapping[str, Any]) -> ModelCapabilities:
    """Derive :class:`ModelCapabilities` from one ``/models`` row.

    Raises ``ValueError`` only when the row has no non-empty string ``id``; any other missing,
    null or mistyped field degrades to "unknown"/"unsupported".
    """
    slug = row.get("id")
    if not isinstance(slug, str) or not slug.strip():
        raise ValueError("model row has no 'id' (a non-empty string is required)")
    slug = slug.strip()

    architecture = _mapping(row.get("architecture"))
    inputs = _string_set(architecture.get("input_modalities"))
    outputs = _string_set(architecture.get("output_modalities")) or frozenset({"text"})
    params = _string_set(row.get("supported_parameters"))
    top_provider = _mapping(row.get("top_provider"))
    pricing = _pricing(_mapping(row.get("pricing")))
    name = row.get("name")
    description = row.get("description")
    canonical = row.get("canonical_slug")

    return ModelCapabilities(
        slug=slug,
        name=name if isinstance(name, str) and name else slug,
        description=description if isinstance(description, str) else "",
        created=_positive_int(row.get("created")),
        context_length=_positive_int(row.get("context_length"))
        or _positive_int(top_provider.get("context_length")),
        max_output_tokens=_positive_int(top_provider.get("max_completion_tokens")),
        input_image="image" in inputs,
        input_file="file" in inputs,
        input_audio="audio" in inputs,
        input_video="video" in inputs,
        output_modalities=outputs,
        reasoning=bool(params & {"reasoning", "include_reasoning"}),
        tools=bool(params & {"tools", "tool_choice"}),
        parallel_tool_calls="parallel_tool_calls" in params,
        structured_outputs=bool(params & {"structured_outputs", "response_format"}),
        web_search="web_search_options" in params
        or (pricing.web_search is not None and pricing.web_search > 0),
        supported_parameters=params,
        pricing=pricing,
        is_free=slug.endswith(_FREE_SUFFIX) or (pricing.prompt == 0 and pricing.completion == 0),
        canonical_slug=canonical.strip() if isinstance(canonical, str) else "",
    )


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _string_set(value: object) -> frozenset[str]:
    if not isinstance(value, list | tuple):
        return frozenset()
    return frozenset(item.strip().lower() for item in value if isinstance(item, str))


def _positive_int(value: object) -> int | None:
    # bool is an int subclass; a JSON `true` is not a token count.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value != value or value in (float("inf"), float("-inf")) or value <= 0:
        return None
    return int(value)


def _price(value: object) -> Decimal | None:
    if value is None:
        return Decimal(0)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not price.is_finite() or price == _UNKNOWN_PRICE or price < 0:
        return None
    return price


def _pricing(raw: Mapping[str, Any]) -> ModelPricing:
    return ModelPricing(
        prompt=_price(raw.get("prompt")),
        completion=_price(raw.get("completion")),
        request=_price(raw.get("request")),
        image=_price(raw.get("image")),
        web_search=_price(raw.get("web_search")),
        internal_reasoning=_price(raw.get("internal_reasoning")),
        input_cache_read=_price(raw.get("input_cache_read")),
        input_cache_write=_price(raw.get("input_cache_write")),
    )
