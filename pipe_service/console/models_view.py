"""``pipe-service models``: the catalog the sidecar offers, with capabilities, filterable."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table

from pipe_service.console.parser import CAPABILITIES


def filter_models(
    rows: Sequence[dict[str, Any]], *, search: str | None, needs: Sequence[str]
) -> list[dict[str, Any]]:
    """Rows whose id or name contains ``search`` (any case) and that have every capability."""
    wanted = (search or "").lower()
    return [
        row
        for row in rows
        if (wanted in str(row.get("id", "")).lower() or wanted in str(row.get("name", "")).lower())
        and all(row.get(capability) for capability in needs)
    ]


def _price(value: Any) -> str:
    return "-" if value is None else f"{float(value):.2f}"


def render_models(rows: Sequence[dict[str, Any]]) -> Table:
    table = Table(title=f"{len(rows)} models", title_justify="left")
    table.add_column("id")
    table.add_column("context", justify="right")
    table.add_column("capabilities")
    table.add_column("$/M in", justify="right")
    table.add_column("$/M out", justify="right")
    for row in rows:
        capabilities = [name for name in CAPABILITIES if row.get(name)]
        context = row.get("context_length")
        table.add_row(
            str(row.get("id")),
            "-" if context is None else f"{int(context):,}",
            ", ".join(capabilities) or "text",
            _price(row.get("prompt_usd_per_mtok")),
            _price(row.get("completion_usd_per_mtok")),
        )
    return table
