"""The whole service from one ``/status``: with several workers, their numbers added up.

A ``/status`` is answered by one worker, so its own numbers (requests in flight, totals, slots)
are that worker's; with several workers it also lists every worker's status, from which this
adds up what adds up. Latency percentiles do not add: the slowest worker's are shown (an upper
bound). ``top`` uses it, so successive refreshes describe the same thing whichever worker
answers.

Synopsis::

    view = whole_service(sidecar.get_json("/status"))
    view["requests"]["in_flight"]        # every worker's
"""

from __future__ import annotations

from typing import Any

_ADDED_RECENT = ("requests", "errors", "requests_per_s", "output_tokens_per_s")
_SLOWEST_RECENT = ("ttft_p50_s", "ttft_p95_s", "duration_p50_s", "duration_p95_s")
_ADDED_ADMISSION = ("running", "slots", "queued", "queue_size", "refused")


def whole_service(status: dict[str, Any]) -> dict[str, Any]:
    """``status`` with ``requests``, ``admission`` and ``upstream_client.open_streams`` summed
    over every worker that answered (``workers_answered`` says how many of how many); a
    single process's ``status`` as it is."""
    workers = status.get("workers")
    if not isinstance(workers, list):
        return status
    answered = [entry["status"] for entry in workers if isinstance(entry.get("status"), dict)]
    requests = [worker.get("requests", {}) for worker in answered]
    recents = [request.get("recent", {}) for request in requests]
    recent: dict[str, Any] = {"window_s": recents[0].get("window_s", 60) if recents else 60}
    for key in _ADDED_RECENT:
        recent[key] = sum(one.get(key) or 0 for one in recents)
    recent["error_rate"] = recent["errors"] / recent["requests"] if recent["requests"] else 0.0
    for key in _SLOWEST_RECENT:
        values = [one[key] for one in recents if one.get(key) is not None]
        recent[key] = max(values) if values else None
    totals: dict[str, int] = {}
    for request in requests:
        for outcome, count in request.get("totals", {}).items():
            totals[outcome] = totals.get(outcome, 0) + int(count)
    admissions = [worker.get("admission", {}) for worker in answered]
    open_streams = [worker.get("upstream_client", {}).get("open_streams") for worker in answered]
    return {
        **status,
        "workers_answered": f"{len(answered)} / {len(workers)}",
        "requests": {
            "in_flight": sum(request.get("in_flight", 0) for request in requests),
            "streams_in_flight": sum(request.get("streams_in_flight", 0) for request in requests),
            "totals": totals,
            "recent": recent,
        },
        "admission": {
            key: sum(admission.get(key) or 0 for admission in admissions)
            for key in _ADDED_ADMISSION
        },
        "upstream_client": {"open_streams": sum(count or 0 for count in open_streams)},
    }
