"""The Grafana dashboard in ``docs/`` is checked structurally: a well-formed dashboard whose
every panel query names a metric family a running sidecar exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.operations.conftest import OpsSidecar

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"
METRIC_NAME = re.compile(r"\bpipe_service_[a-z0-9_]+\b")
SUFFIXES = ("", "_total", "_bucket", "_sum", "_count", "_created", "_info")


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return document


def expressions(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_the_dashboard_is_a_well_formed_grafana_dashboard(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"]
    assert dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int)
    assert dashboard["templating"]["list"][0]["type"] == "datasource"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)) >= 12
    for panel in dashboard["panels"]:
        assert panel["type"] in ("timeseries", "stat"), panel["title"]
        assert panel["title"]
        grid = panel["gridPos"]
        assert all(isinstance(grid[key], int) for key in ("h", "w", "x", "y"))
        assert grid["x"] + grid["w"] <= 24
        assert panel["datasource"]["type"] == "prometheus"
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert ref_ids
        assert len(ref_ids) == len(set(ref_ids))


def test_every_query_is_balanced_and_names_a_metric(dashboard: dict[str, Any]) -> None:
    for expr in expressions(dashboard):
        assert METRIC_NAME.search(expr), expr
        for opening, closing in ("()", "[]", "{}"):
            assert expr.count(opening) == expr.count(closing), expr


async def test_every_metric_a_panel_queries_is_exported_by_a_running_sidecar(
    ops_sidecar: OpsSidecar, dashboard: dict[str, Any]
) -> None:
    async with ops_sidecar.uds_client() as client:
        body = {"model": "sim/text", "messages": [{"role": "user", "content": "hi"}]}
        assert (await client.post("/v1/chat/completions", json=body)).status_code == 200
        text = (await client.get("/metrics")).text
    exported: set[str] = set()
    for family in text_string_to_metric_families(text):
        exported.update(family.name + suffix for suffix in SUFFIXES)
    queried = {name for expr in expressions(dashboard) for name in METRIC_NAME.findall(expr)}
    assert sorted(queried - exported) == []
    # ...and the dashboard covers the families operators need (a panel for each concern).
    for family in (
        "pipe_service_time_to_first_token_seconds_bucket",
        "pipe_service_admission_refused_total",
        "pipe_service_catalog_age_seconds",
        "pipe_service_database_up",
        "pipe_service_log_records_dropped_total",
        "pipe_service_tool_breaker_trips_total",
        "pipe_service_cost_usd_total",
    ):
        assert family in queried, family
