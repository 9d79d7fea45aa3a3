"""Pick the model that serves a request: primary ``model`` then the ``models`` fallback list.

Like OpenRouter, a fallback is tried when a model fails with a moderation, timeout, rate-limit
or availability error (403/408/429/502/503/404) or cannot take the request's input modalities.
Validation, auth and credit errors (400/401/402) and unknown ids end the search at once.

Model ids may carry a variant suffix (``sim/text:nitro``; see :data:`VARIANT_SUFFIXES`), served by
the base model, or name an account preset (``@preset/<name>``, resolved through the simulator's
``presets``). The ``provider`` routing object is honoured the way the service can trip it:
``zdr: true`` and ``only``/``ignore`` lists leave a model without an endpoint (404).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pipe_service.simulator.catalog import Catalog, ModelCard
from pipe_service.simulator.errors import (
    ErrorReply,
    model_not_found,
    no_endpoints_for_policy,
    responses_unsupported,
    scenario_error,
    unsupported_input,
)
from pipe_service.simulator.provider_endpoints import endpoints_with_zdr
from pipe_service.simulator.replay_checks import replayed_signature_error
from pipe_service.simulator.request_view import TurnRequest
from pipe_service.simulator.scenarios import scenario_error_status

FALLBACK_STATUSES = frozenset({403, 404, 408, 429, 502, 503})
VARIANT_SUFFIXES = frozenset(
    {"nitro", "floor", "exacto", "online", "thinking", "extended", "free"}
)
PRESET_PREFIX = "@preset/"
CHAT_ONLY_MODELS = frozenset({"sim/chat-only"})
"""Models whose providers only speak chat-completions: ``/responses`` refuses them."""

Endpoint = Literal["responses", "chat"]


@dataclass(frozen=True, slots=True)
class Resolved:
    card: ModelCard
    model_id: str
    """The id the reply names: the requested variant id, or a preset's target model."""


@dataclass(frozen=True, slots=True)
class Catalogs:
    loaded: Catalog
    sim: Catalog
    presets: Mapping[str, str]


def find_card(model_id: str, catalog: Catalog, sim_catalog: Catalog) -> ModelCard | None:
    """Loaded catalog first; the ``sim/*`` scenario models are always callable."""
    return catalog.card(model_id) or sim_catalog.card(model_id)


def _find_row(model_id: str, catalogs: Catalogs) -> dict[str, Any] | None:
    return catalogs.loaded.row(model_id) or catalogs.sim.row(model_id)


def resolve_id(model_id: str, catalogs: Catalogs) -> tuple[str, str] | None:
    """``(catalog id, reported id)`` for a plain, variant or preset id; None when unknown."""
    if model_id.startswith(PRESET_PREFIX):
        target = catalogs.presets.get(model_id.removeprefix(PRESET_PREFIX))
        return None if target is None else resolve_id(target, catalogs)
    if find_card(model_id, catalogs.loaded, catalogs.sim) is not None:
        return model_id, model_id
    base, colon, variant = model_id.rpartition(":")
    if colon and variant in VARIANT_SUFFIXES and find_card(base, catalogs.loaded, catalogs.sim):
        return base, model_id
    return None


def _routing_error(
    model_id: str, row: Mapping[str, Any], provider: Any, provider_name: str
) -> ErrorReply | None:
    if not isinstance(provider, dict):
        return None
    endpoints = endpoints_with_zdr(row, provider_name=provider_name)
    if provider.get("zdr") is True:
        endpoints = [(endpoint, zdr) for endpoint, zdr in endpoints if zdr]
    only, ignore = provider.get("only"), provider.get("ignore")
    if isinstance(only, list):
        endpoints = [pair for pair in endpoints if _named(pair[0], only)]
    if isinstance(ignore, list):
        endpoints = [pair for pair in endpoints if not _named(pair[0], ignore)]
    if endpoints:
        return None
    return no_endpoints_for_policy(model_id, zdr=provider.get("zdr") is True)


def _named(endpoint: Mapping[str, Any], slugs: list[Any]) -> bool:
    tag = str(endpoint["tag"])
    names = {tag, tag.split("/", 1)[0], str(endpoint["provider_name"]).lower()}
    return any(isinstance(slug, str) and slug.lower() in names for slug in slugs)


def _model_error(
    card: ModelCard,
    row: Mapping[str, Any] | None,
    request: TurnRequest,
    *,
    endpoint: Endpoint,
    provider_name: str,
    retry_after_s: int,
) -> tuple[ErrorReply, bool] | None:
    """The error this model answers with, and whether a fallback model may be tried."""
    status = scenario_error_status(card.id)
    if status is not None:
        reply = scenario_error(
            status,
            model_id=card.id,
            user_text=request.last_user_text,
            provider_name=provider_name,
            retry_after_s=retry_after_s,
        )
        return reply, status in FALLBACK_STATUSES
    if endpoint == "responses" and card.id in CHAT_ONLY_MODELS:
        return responses_unsupported(card.id, provider_name), False
    if request.image_count and "image" not in card.input_modalities:
        return unsupported_input(card.id, "image"), True
    if request.file_count and "file" not in card.input_modalities:
        return unsupported_input(card.id, "file"), True
    signature = replayed_signature_error(request, card, provider_name=provider_name)
    if signature is not None:
        return signature, False
    if row is not None:
        routing = _routing_error(card.id, row, request.body.get("provider"), provider_name)
        if routing is not None:
            return routing, True
    return None


def resolve_model(
    request: TurnRequest,
    catalogs: Catalogs,
    *,
    provider_name: str,
    retry_after_s: int,
    endpoint: Endpoint = "responses",
) -> Resolved | ErrorReply:
    candidates = [request.model, *request.fallback_models]
    error: ErrorReply | None = None
    for candidate in candidates:
        ids = resolve_id(candidate, catalogs)
        if ids is None:
            return model_not_found(candidate)
        catalog_id, reported = ids
        card = find_card(catalog_id, catalogs.loaded, catalogs.sim)
        assert card is not None  # resolve_id only answers ids it found
        failure = _model_error(
            card,
            _find_row(catalog_id, catalogs),
            request,
            endpoint=endpoint,
            provider_name=provider_name,
            retry_after_s=retry_after_s,
        )
        if failure is None:
            return Resolved(card, reported)
        error, may_fall_back = failure
        if not may_fall_back:
            return error
    assert error is not None  # the loop ran at least once (validation requires a model)
    return error
