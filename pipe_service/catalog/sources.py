"""Everything one catalog refresh reads from OpenRouter, fetched together.

``/models`` always; ``/endpoints/zdr`` when ZDR matters (a ZDR-only catalog or enforced ZDR);
``/models/{slug}/endpoints`` for the models listed in per-model routing rules (their provider
lists validate routing choices), at most ``max_endpoint_lists`` per refresh.

A failed ZDR list fails the refresh when the catalog is ZDR-only (showing non-ZDR models would
break the admin's promise; the stale catalog stays), and otherwise only leaves ZDR unknown. A
failed endpoints list leaves that model's providers unknown. Failures are logged, never raised
past here except that one.

Synopsis::

    sources = await fetch_sources(client, SourcePlan(want_zdr=True, routed=("anthropic/*",)))
    registry = ModelRegistry.from_sources(sources, filters)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipe_service.catalog.filters import matches_allowlist

__all__ = ["CatalogSources", "SourcePlan", "fetch_sources", "provider_tags", "zdr_model_ids"]

logger = logging.getLogger("pipe_service.catalog.sources")


class CatalogClient(Protocol):
    """The part of ``OpenRouterClient`` a refresh uses."""

    async def list_models(self) -> dict[str, Any]: ...

    async def list_zdr_endpoints(self) -> dict[str, Any]: ...

    async def list_model_endpoints(self, slug: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class SourcePlan:
    """What to fetch besides ``/models``."""

    want_zdr: bool = False
    zdr_required: bool = False
    routed: tuple[str, ...] = ()
    max_endpoint_lists: int = 32


@dataclass(frozen=True)
class CatalogSources:
    models: Mapping[str, Any]
    zdr_model_ids: frozenset[str] | None = None
    providers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_document(self) -> dict[str, Any]:
        """A JSON-ready form (for sharing one refresh across a fleet through Redis)."""
        zdr = None if self.zdr_model_ids is None else sorted(self.zdr_model_ids)
        providers = {slug: list(tags) for slug, tags in self.providers.items()}
        return {"models": self.models, "zdr_model_ids": zdr, "providers": providers}

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> CatalogSources:
        """The inverse of :meth:`to_document`."""
        zdr = document.get("zdr_model_ids")
        providers = document.get("providers") or {}
        return cls(
            models=document["models"],
            zdr_model_ids=None if zdr is None else frozenset(zdr),
            providers={slug: tuple(tags) for slug, tags in providers.items()},
        )


def zdr_model_ids(document: Mapping[str, Any]) -> frozenset[str]:
    """Model ids (permaslugs) with a zero-retention endpoint, from ``/endpoints/zdr``."""
    rows = document.get("data")
    if not isinstance(rows, list):
        raise ValueError("/endpoints/zdr payload has no 'data' list")
    return frozenset(
        row["model_id"]
        for row in rows
        if isinstance(row, dict) and isinstance(row.get("model_id"), str)
    )


def provider_tags(document: Mapping[str, Any]) -> tuple[str, ...]:
    """Provider slugs (endpoint ``tag``s) from ``/models/{slug}/endpoints``, in order."""
    data = document.get("data")
    endpoints = data.get("endpoints") if isinstance(data, dict) else None
    if not isinstance(endpoints, list):
        raise ValueError("endpoints payload has no 'data.endpoints' list")
    tags = [
        endpoint["tag"]
        for endpoint in endpoints
        if isinstance(endpoint, dict) and isinstance(endpoint.get("tag"), str)
    ]
    return tuple(dict.fromkeys(tags))


async def fetch_sources(client: CatalogClient, plan: SourcePlan) -> CatalogSources:
    """Fetch ``/models`` and, per ``plan``, the ZDR list and the routed models' endpoints."""
    models = await client.list_models()
    zdr: frozenset[str] | None = None
    if plan.want_zdr or plan.zdr_required:
        try:
            zdr = zdr_model_ids(await client.list_zdr_endpoints())
        except Exception as exc:  # a missing ZDR list only matters when the catalog needs it
            if plan.zdr_required:
                raise
            reason = f"{type(exc).__name__}: {exc}"[:200]
            logger.warning("ZDR endpoint list unavailable: %s", reason)
    providers: dict[str, tuple[str, ...]] = {}
    if plan.routed:
        providers = await _routed_providers(client.list_model_endpoints, models, plan)
    return CatalogSources(models=models, zdr_model_ids=zdr, providers=providers)


async def _routed_providers(
    fetch: Callable[[str], Awaitable[dict[str, Any]]],
    models: Mapping[str, Any],
    plan: SourcePlan,
) -> dict[str, tuple[str, ...]]:
    rows = models.get("data")
    slugs = [
        row["id"]
        for row in (rows if isinstance(rows, list) else [])
        if isinstance(row, dict)
        and isinstance(row.get("id"), str)
        and matches_allowlist(row["id"], plan.routed)
    ]
    if len(slugs) > plan.max_endpoint_lists:
        logger.warning(
            "model_routing covers %d models; fetching provider lists for the first %d",
            len(slugs),
            plan.max_endpoint_lists,
        )
    providers: dict[str, tuple[str, ...]] = {}
    for slug in slugs[: plan.max_endpoint_lists]:
        try:
            providers[slug] = provider_tags(await fetch(slug))
        except Exception as exc:  # unknown providers: routing choices are left to OpenRouter
            logger.warning(
                "provider list of %s unavailable: %s", slug, f"{type(exc).__name__}: {exc}"[:200]
            )
    return providers
