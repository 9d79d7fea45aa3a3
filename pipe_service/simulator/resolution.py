"""Pick the model that serves a request: primary ``model`` then the ``models`` fallback list.

Like OpenRouter, a fallback is tried when a model fails with a moderation, timeout, rate-limit
or availability error (403/408/429/502/503) or cannot take the request's input modalities.
Validation, auth and credit errors (400/401/402) and unknown ids end the search at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipe_service.simulator.catalog import Catalog, ModelCard
from pipe_service.simulator.errors import (
    ErrorReply,
    model_not_found,
    scenario_error,
    unsupported_input,
)
from pipe_service.simulator.request_view import TurnRequest
from pipe_service.simulator.scenarios import scenario_error_status

FALLBACK_STATUSES = frozenset({403, 408, 429, 502, 503})


@dataclass(frozen=True, slots=True)
class Resolved:
    card: ModelCard


def find_card(model_id: str, catalog: Catalog, sim_catalog: Catalog) -> ModelCard | None:
    """Loaded catalog first; the ``sim/*`` scenario models are always callable."""
    return catalog.card(model_id) or sim_catalog.card(model_id)


def _model_error(
    card: ModelCard, request: TurnRequest, *, provider_name: str, retry_after_s: int
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
    if request.image_count and "image" not in card.input_modalities:
        return unsupported_input(card.id, "image"), True
    if request.file_count and "file" not in card.input_modalities:
        return unsupported_input(card.id, "file"), True
    return None


def resolve_model(
    request: TurnRequest,
    catalog: Catalog,
    sim_catalog: Catalog,
    *,
    provider_name: str,
    retry_after_s: int,
) -> Resolved | ErrorReply:
    candidates = [request.model, *request.fallback_models]
    error: ErrorReply | None = None
    for candidate in candidates:
        card = find_card(candidate, catalog, sim_catalog)
        if card is None:
            return model_not_found(candidate)
        failure = _model_error(
            card, request, provider_name=provider_name, retry_after_s=retry_after_s
        )
        if failure is None:
            return Resolved(card)
        error, may_fall_back = failure
        if not may_fall_back:
            return error
    assert error is not None  # the loop ran at least once (validation requires a model)
    return error
