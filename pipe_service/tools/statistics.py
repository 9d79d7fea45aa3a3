"""Counters of the tools actor, and the frozen record ``/status`` and ``/metrics`` read.

Synopsis::

    counters = ToolCounters()
    counters.calls += 1
    record = counters.snapshot(breakers_open=0, breakers_half_open=0, breaker_trips=0,
                               requests_active=0, global_in_use=0)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class ToolCounters:
    """Mutable counters since start-up (one per process, owned by the runner)."""

    rounds: int = 0
    batches: int = 0
    calls: int = 0
    succeeded: int = 0
    failed: int = 0
    timeouts: int = 0
    retries: int = 0
    skipped: int = 0
    refused: int = 0
    in_flight: int = 0

    def snapshot(
        self,
        *,
        breakers_open: int,
        breakers_half_open: int,
        breaker_trips: int,
        requests_active: int,
        global_in_use: int,
    ) -> ToolStatistics:
        return ToolStatistics(
            rounds=self.rounds,
            batches=self.batches,
            calls=self.calls,
            succeeded=self.succeeded,
            failed=self.failed,
            timeouts=self.timeouts,
            retries=self.retries,
            skipped_by_breaker=self.skipped,
            refused_over_queue=self.refused,
            in_flight=self.in_flight,
            requests_active=requests_active,
            global_slots_in_use=global_in_use,
            breakers_open=breakers_open,
            breakers_half_open=breakers_half_open,
            breaker_trips=breaker_trips,
        )


@dataclass(frozen=True, slots=True)
class ToolStatistics:
    """What the tools actor did since start-up and what runs now.

    ``failed`` includes ``timeouts``; ``skipped_by_breaker`` and ``refused_over_queue`` calls
    never ran. ``in_flight`` counts calls executing now (holding a slot).
    """

    rounds: int
    batches: int
    calls: int
    succeeded: int
    failed: int
    timeouts: int
    retries: int
    skipped_by_breaker: int
    refused_over_queue: int
    in_flight: int
    requests_active: int
    global_slots_in_use: int
    breakers_open: int
    breakers_half_open: int
    breaker_trips: int
