"""Provider endpoints of the simulated models: ``/models/{slug}/endpoints`` and ``/endpoints/zdr``.

OpenRouter serves a model through several providers, each an *endpoint* (``PublicEndpoint`` in
its OpenAPI spec): ``name``, ``model_id`` (the permaslug, i.e. the row's ``canonical_slug``),
``model_name``, ``context_length``, ``pricing``, ``provider_name``, ``tag`` (the provider slug
routing preferences name), ``quantization``, ``max_completion_tokens``, ``max_prompt_tokens``,
``supported_parameters``, ``status``, ``uptime_last_30m``, ``supports_implicit_caching``.
``GET /endpoints/zdr`` lists the endpoints with zero data retention, in the same shape.

The simulator gives every model the same deterministic providers:

* ``simulator`` (the configured provider name, bf16): zero data retention, except for free
  models (free endpoints may keep data, so a ZDR-only catalog hides them);
* ``sim-cloud/fp8`` ("Sim Cloud", fp8): never ZDR.

Synopsis::

    endpoints_of(row, provider_name="Simulator")   # [PublicEndpoint dict, ...]
    zdr_endpoints(rows, provider_name="Simulator")  # the /endpoints/zdr data list
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pipe_service.simulator.catalog import ModelCard, ModelRow

PRIMARY_TAG = "simulator"
SECONDARY_TAG = "sim-cloud/fp8"
SECONDARY_NAME = "Sim Cloud"


def _is_free(card: ModelCard, model_id: str) -> bool:
    return model_id.endswith(":free") or (card.prompt_price == 0 and card.completion_price == 0)


def _endpoint(
    row: Mapping[str, Any], *, provider_name: str, tag: str, quantization: str
) -> dict[str, Any]:
    top = row.get("top_provider") or {}
    context = row.get("context_length") or top.get("context_length") or 0
    model_name = str(row.get("name") or row["id"])
    return {
        "name": f"{provider_name} | {row.get('canonical_slug') or row['id']}",
        "model_id": str(row.get("canonical_slug") or row["id"]),
        "model_name": model_name,
        "context_length": context,
        "pricing": dict(row.get("pricing") or {}),
        "provider_name": provider_name,
        "tag": tag,
        "quantization": quantization,
        "max_completion_tokens": top.get("max_completion_tokens"),
        "max_prompt_tokens": None,
        "supported_parameters": list(row.get("supported_parameters") or []),
        "status": 0,
        "uptime_last_30m": 100.0,
        "supports_implicit_caching": False,
    }


def endpoints_with_zdr(
    row: Mapping[str, Any], *, provider_name: str
) -> list[tuple[dict[str, Any], bool]]:
    """Every endpoint of ``row`` with whether it retains no data."""
    card = ModelCard.from_row(row)
    primary = _endpoint(row, provider_name=provider_name, tag=PRIMARY_TAG, quantization="bf16")
    secondary = _endpoint(row, provider_name=SECONDARY_NAME, tag=SECONDARY_TAG, quantization="fp8")
    return [(primary, not _is_free(card, str(row["id"]))), (secondary, False)]


def endpoints_of(row: Mapping[str, Any], *, provider_name: str) -> list[dict[str, Any]]:
    """The ``endpoints`` list of ``GET /models/{author}/{slug}/endpoints``."""
    return [endpoint for endpoint, _ in endpoints_with_zdr(row, provider_name=provider_name)]


def provider_tags(row: Mapping[str, Any]) -> frozenset[str]:
    """Provider slugs a routing preference may name for this model (tags and their bases)."""
    return frozenset({PRIMARY_TAG, SECONDARY_TAG, SECONDARY_TAG.split("/", 1)[0]})


def has_zdr_endpoint(row: Mapping[str, Any], *, provider_name: str) -> bool:
    return any(zdr for _, zdr in endpoints_with_zdr(row, provider_name=provider_name))


def zdr_endpoints(rows: Iterable[Mapping[str, Any]], *, provider_name: str) -> list[dict[str, Any]]:
    """The ``data`` list of ``GET /endpoints/zdr``: every zero-retention endpoint."""
    return [
        endpoint
        for row in rows
        for endpoint, zdr in endpoints_with_zdr(row, provider_name=provider_name)
        if zdr
    ]


def model_endpoints_document(row: Mapping[str, Any], *, provider_name: str) -> dict[str, Any]:
    """The whole body of ``GET /models/{author}/{slug}/endpoints``."""
    return {
        "data": {
            "id": row["id"],
            "name": row.get("name"),
            "created": row.get("created"),
            "description": row.get("description"),
            "architecture": row.get("architecture"),
            "endpoints": endpoints_of(row, provider_name=provider_name),
        }
    }


def rows_by_slug(rows: Iterable[ModelRow]) -> dict[str, ModelRow]:
    """Rows keyed by id and by canonical slug (the endpoints URL may use either)."""
    index: dict[str, ModelRow] = {}
    for row in rows:
        index.setdefault(str(row["id"]), row)
        canonical = row.get("canonical_slug")
        if isinstance(canonical, str) and canonical:
            index.setdefault(canonical, row)
    return index
