"""The request metric families, updated once per request when it ends (never per delta).

Counters and histograms live in the service's own registry (tests run several services in one
process). Everything that already exists as an actor statistic (admission, upstream client,
tools, catalog, inboxes) is read at scrape time instead (``service_metrics.py``).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Latency buckets from a cached 100 ms answer to a long reasoning run.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)
PHASE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class RequestMetrics:
    """The per-request families of one service (see ``docs/operations.md`` for each)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests_in_flight = Gauge(
            "pipe_service_requests_in_flight",
            "Chat requests being served now.",
            ["front"],
            registry=registry,
        )
        self.streams_in_flight = Gauge(
            "pipe_service_streams_in_flight",
            "Streaming chat requests being served now.",
            registry=registry,
        )
        self.requests = Counter(
            "pipe_service_requests",
            "Chat requests ended, by front door and outcome.",
            ["front", "outcome"],
            registry=registry,
        )
        self.time_to_first_token = Histogram(
            "pipe_service_time_to_first_token_seconds",
            "From the request's arrival to the first text or reasoning delta sent to the client.",
            ["front"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.duration = Histogram(
            "pipe_service_request_duration_seconds",
            "From the request's arrival to its end.",
            ["front", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.phase = Histogram(
            "pipe_service_request_phase_seconds",
            "Phase timings per request (durations, or offsets from arrival for first_byte and "
            "first_delta_out).",
            ["phase"],
            buckets=PHASE_BUCKETS,
            registry=registry,
        )
        self.tokens = Counter(
            "pipe_service_tokens",
            "Tokens reported by OpenRouter, by model and kind.",
            ["model", "kind"],
            registry=registry,
        )
        self.cost = Counter(
            "pipe_service_cost_usd",
            "Cost reported by OpenRouter in USD, by model.",
            ["model"],
            registry=registry,
        )
        self.errors = Counter(
            "pipe_service_request_errors",
            "Requests that ended in an error, by error class.",
            ["error_class"],
            registry=registry,
        )
