"""Model catalog of the simulator: loading, lookup, capability view and /models filters.

Rows stay plain JSON dicts so `GET /api/v1/models` re-serialises them exactly as loaded (same keys,
same order). :class:`ModelCard` is the typed view the scenarios read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

ModelRow = dict[str, Any]

SIM_CATALOG_RESOURCE = "sim_models.json"


class CatalogError(ValueError):
    """The catalog file is not a list of model rows (names the file and the problem)."""


@dataclass(frozen=True, slots=True)
class ModelCard:
    """What a scenario needs to know about a model."""

    id: str
    input_modalities: frozenset[str]
    output_modalities: frozenset[str]
    supported_parameters: frozenset[str]
    prompt_price: float
    completion_price: float
    request_price: float
    web_search_price: float

    @property
    def reasons(self) -> bool:
        return "reasoning" in self.supported_parameters

    @property
    def calls_tools(self) -> bool:
        return "tools" in self.supported_parameters

    @property
    def author(self) -> str:
        return self.id.split("/", 1)[0]

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ModelCard:
        architecture = row.get("architecture") or {}
        pricing = row.get("pricing") or {}
        return cls(
            id=str(row["id"]),
            input_modalities=frozenset(architecture.get("input_modalities") or ["text"]),
            output_modalities=frozenset(architecture.get("output_modalities") or ["text"]),
            supported_parameters=frozenset(row.get("supported_parameters") or []),
            prompt_price=_price(pricing, "prompt"),
            completion_price=_price(pricing, "completion"),
            request_price=_price(pricing, "request"),
            web_search_price=_price(pricing, "web_search"),
        )


def _price(pricing: Mapping[str, Any], key: str) -> float:
    # Prices are decimal strings; zero prices are omitted; routers use "-1" (unknown -> free).
    value = float(pricing.get(key, "0") or 0)
    return max(value, 0.0)


class Catalog:
    """Loaded rows plus an id index. Immutable after construction."""

    def __init__(self, rows: Sequence[ModelRow]) -> None:
        self._rows = list(rows)
        self._cards = {str(row["id"]): ModelCard.from_row(row) for row in self._rows}

    @property
    def rows(self) -> list[ModelRow]:
        return list(self._rows)

    def card(self, model_id: str) -> ModelCard | None:
        return self._cards.get(model_id)

    def row(self, model_id: str) -> ModelRow | None:
        """The raw row of ``model_id`` (exact id), or None."""
        return next((row for row in self._rows if row["id"] == model_id), None)

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._cards

    def filtered(self, query: Mapping[str, str]) -> list[ModelRow]:
        """Rows matching the /models query filters OpenRouter documents.

        - ``output_modalities``: csv or ``all``; default ``text``; a row matches if it outputs any.
        - ``input_modalities``: csv; a row matches if it accepts all of them.
        - ``supported_parameters``: csv; a row matches if it supports all of them.
        """
        wanted_out = _csv(query.get("output_modalities", "text"))
        wanted_in = _csv(query.get("input_modalities", ""))
        wanted_params = _csv(query.get("supported_parameters", ""))
        selected: list[ModelRow] = []
        for row in self._rows:
            card = self._cards[str(row["id"])]
            if "all" not in wanted_out and not wanted_out & card.output_modalities:
                continue
            if not wanted_in <= card.input_modalities:
                continue
            if not wanted_params <= card.supported_parameters:
                continue
            selected.append(row)
        return selected


def _csv(value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def parse_rows(document: Any, *, source: str) -> list[ModelRow]:
    """Accept a bare array of rows or ``{"data": [...]}``."""
    rows = document.get("data") if isinstance(document, dict) else document
    if not isinstance(rows, list):
        raise CatalogError(f"{source}: expected a JSON array of models or {{'data': [...]}}")
    for index, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("id"), str):
            raise CatalogError(f"{source}: row {index} is not an object with a string 'id'")
    return rows


def load_sim_catalog() -> Catalog:
    """The built-in catalog of ``sim/*`` scenario models."""
    text = resources.files(__package__).joinpath(SIM_CATALOG_RESOURCE).read_text("utf-8")
    return Catalog(parse_rows(json.loads(text), source=SIM_CATALOG_RESOURCE))


def load_catalog(path: Path | None) -> Catalog:
    """The catalog in ``path``, or the built-in simulator catalog when ``path`` is None."""
    if path is None:
        return load_sim_catalog()
    try:
        document = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as error:
        raise CatalogError(f"catalog_path {path}: cannot read JSON ({error})") from error
    return Catalog(parse_rows(document, source=str(path)))
