"""One exposition for every worker: each sample labelled by its worker, each family once."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.parser import text_string_to_metric_families

from pipe_service.workers.fleet_metrics import encode_families, render_fleet


def _worker_registry(requests: int, slots: int) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    Counter("pipe_service_requests", "Requests.", ["route"], registry=registry).labels("chat").inc(
        requests
    )
    Gauge("pipe_service_admission_slots", "Slots.", registry=registry).set(slots)
    Histogram("pipe_service_ttft_seconds", "TTFT.", buckets=(0.1, 1.0), registry=registry).observe(
        0.5
    )
    return registry


def _parse(exposition: bytes) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    families: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(exposition.decode()):
        assert family.name not in families  # one HELP/TYPE per family
        families[family.name] = {
            (("sample", sample.name), *sorted(sample.labels.items())): sample.value
            for sample in family.samples
        }
    return families


def test_every_workers_samples_are_labelled_and_merged_by_family() -> None:
    workers = [
        {
            "index": 0,
            "process_restarts": 0,
            "families": encode_families(_worker_registry(3, 8).collect()),
        },
        {
            "index": 1,
            "process_restarts": 2,
            "families": encode_families(_worker_registry(5, 8).collect()),
        },
    ]

    families = _parse(render_fleet(workers))

    requests = families["pipe_service_requests"]
    assert (
        requests[(("sample", "pipe_service_requests_total"), ("route", "chat"), ("worker", "0"))]
        == 3
    )
    assert (
        requests[(("sample", "pipe_service_requests_total"), ("route", "chat"), ("worker", "1"))]
        == 5
    )
    ttft = families["pipe_service_ttft_seconds"]
    assert (
        ttft[(("sample", "pipe_service_ttft_seconds_bucket"), ("le", "1.0"), ("worker", "1"))] == 1
    )
    restarts = families["pipe_service_worker_process_restarts"]
    assert (
        restarts[(("sample", "pipe_service_worker_process_restarts_total"), ("worker", "1"))] == 2
    )


def test_a_worker_that_did_not_answer_is_counted_not_silently_missing() -> None:
    workers = [
        {"index": 0, "families": encode_families(_worker_registry(1, 8).collect())},
        {"index": 1, "error": "no answer within 5 s"},
    ]

    families = _parse(render_fleet(workers))

    assert families["pipe_service_worker_answered"] == {
        (("sample", "pipe_service_worker_answered"), ("worker", "0")): 1.0,
        (("sample", "pipe_service_worker_answered"), ("worker", "1")): 0.0,
    }
    slots = families["pipe_service_admission_slots"]
    assert list(slots) == [(("sample", "pipe_service_admission_slots"), ("worker", "0"))]
