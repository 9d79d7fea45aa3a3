"""``top`` with several workers adds every worker's numbers up, whichever worker answered."""

from __future__ import annotations

from typing import Any

from pipe_service.console.top_view import TopModel
from pipe_service.console.whole_service import whole_service


def _worker(in_flight: int, completed: int, ttft_p95: float | None) -> dict[str, Any]:
    return {
        "requests": {
            "in_flight": in_flight,
            "streams_in_flight": in_flight,
            "totals": {"completed": completed, "error": 1},
            "recent": {
                "window_s": 60,
                "requests": completed,
                "errors": 1,
                "requests_per_s": completed / 60,
                "output_tokens_per_s": 10.0,
                "ttft_p50_s": 0.01,
                "ttft_p95_s": ttft_p95,
                "duration_p50_s": 1.0,
                "duration_p95_s": 2.0,
            },
        },
        "admission": {"running": in_flight, "slots": 64, "queued": 0, "queue_size": 256},
        "upstream_client": {"open_streams": in_flight},
    }


def _status(answering: int) -> dict[str, Any]:
    workers = [_worker(2, 30, 0.05), _worker(3, 10, 0.2)]
    return {
        **workers[answering],
        "worker": {"index": answering, "count": 3},
        "workers": [
            {"index": 0, "state": "serving", "status": workers[0]},
            {"index": 1, "state": "serving", "status": workers[1]},
            {"index": 2, "state": "starting", "error": "starting"},
        ],
    }


def test_every_answering_worker_gives_the_same_sums() -> None:
    one, other = whole_service(_status(0)), whole_service(_status(1))

    for key in ("requests", "admission", "upstream_client", "workers_answered"):
        assert one[key] == other[key]


def test_counts_add_up_and_latency_is_the_slowest_workers() -> None:
    view = whole_service(_status(0))

    assert view["workers_answered"] == "2 / 3"
    assert view["requests"]["in_flight"] == 5
    assert view["requests"]["totals"] == {"completed": 40, "error": 2}
    assert view["requests"]["recent"]["error_rate"] == 2 / 40
    assert view["requests"]["recent"]["ttft_p95_s"] == 0.2
    assert view["admission"]["slots"] == 128
    assert view["upstream_client"]["open_streams"] == 5


def test_a_single_process_status_is_shown_as_it_is() -> None:
    single = _worker(1, 5, None)

    assert whole_service(single) is single


def test_the_rate_between_refreshes_does_not_jump_when_another_worker_answers() -> None:
    model = TopModel()
    model.update(_status(0), now=0.0)
    model.update(_status(1), now=1.0)

    assert model.rate == 0.0  # no request ended: the other worker's totals are not a jump
