"""Request telemetry on virtual time: outcomes, time to first token, usage and bounded error
labels, measured exactly; the request metrics are read back from their registry."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from prometheus_client import CollectorRegistry

from pipe_service.chat.events import Completed, Failed, TextDelta
from pipe_service.chat.request_telemetry import Telemetry
from pipe_service.chat.turn_request import TurnError
from pipe_service.openrouter.errors import UpstreamError, UpstreamErrorKind
from pipe_service.openrouter.usage import Usage
from pipe_service.telemetry.request_metrics import RequestMetrics


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def telemetry(registry: CollectorRegistry) -> Telemetry:
    return Telemetry(RequestMetrics(registry))


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


async def test_a_completed_stream_records_ttft_duration_tokens_and_cost_exactly(
    telemetry: Telemetry, registry: CollectorRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    with telemetry.track_request(front="pipe", model="m/x", stream=True) as trace:
        assert value(registry, "pipe_service_streams_in_flight") == 1
        await trio.sleep(0.3)
        telemetry.observe(trace, TextDelta("hi"))
        await trio.sleep(1.7)
        usage = Usage(input_tokens=10, output_tokens=20, cost=0.5)
        telemetry.observe(trace, usage)
        telemetry.observe(trace, Completed("r1", "m/x", "completed", "stop", usage))
    assert trace.phases["first_delta_out"] == pytest.approx(0.3)
    assert value(registry, "pipe_service_streams_in_flight") == 0
    assert value(registry, "pipe_service_requests_total", front="pipe", outcome="completed") == 1
    assert value(
        registry, "pipe_service_time_to_first_token_seconds_sum", front="pipe"
    ) == pytest.approx(0.3)
    assert value(
        registry, "pipe_service_request_duration_seconds_sum", front="pipe", outcome="completed"
    ) == pytest.approx(2.0)
    # Completed carries the turn's total: the Usage event before it is not counted twice.
    assert value(registry, "pipe_service_tokens_total", model="m/x", kind="output") == 20
    assert value(registry, "pipe_service_cost_usd_total", model="m/x") == 0.5


async def test_a_provider_error_code_becomes_a_bounded_error_label(
    telemetry: Telemetry, registry: CollectorRegistry
) -> None:
    with telemetry.track_request(front="openai", model="m/x", stream=True) as trace:
        telemetry.observe(trace, TextDelta("partial"))
        telemetry.observe(trace, Failed("provider_said_something_new_42", "boom", None, None))
    assert (
        value(
            registry, "pipe_service_request_errors_total", error_class="interrupted_stream_failed"
        )
        == 1
    )
    assert value(registry, "pipe_service_requests_total", front="openai", outcome="failed") == 1


async def test_an_error_before_output_is_classed_by_its_kind(
    telemetry: Telemetry, registry: CollectorRegistry
) -> None:
    with telemetry.track_request(front="pipe", model="m/x", stream=False) as trace:
        error = UpstreamError(UpstreamErrorKind.RATE_LIMITED, "slow", status=429)
        telemetry.observe(trace, TurnError(error))
    assert (
        value(registry, "pipe_service_request_errors_total", error_class="upstream_rate_limited")
        == 1
    )


async def test_a_cancelled_request_counts_as_cancelled_not_as_an_error(
    telemetry: Telemetry, registry: CollectorRegistry
) -> None:
    with trio.move_on_after(0):
        with telemetry.track_request(front="pipe", model="m/x", stream=True):
            await trio.sleep(1)
    assert value(registry, "pipe_service_requests_total", front="pipe", outcome="cancelled") == 1
    assert value(registry, "pipe_service_requests_in_flight", front="pipe") == 0
    assert telemetry.statistics().in_flight == 0
    assert telemetry.statistics().totals == {"cancelled": 1}
