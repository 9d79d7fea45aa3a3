"""Admission: slots, a FIFO queue, and an immediate busy answer when both are full."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from pipe_service.admission import actor as admission
from pipe_service.admission.actor import (
    AdmissionGate,
    AdmissionLimits,
    ServerBusyError,
    open_admission_queue,
)


async def _start(nursery: trio.Nursery, slots: int, queue: int) -> AdmissionGate:
    limits = AdmissionLimits(slots=slots, queue=queue, retry_after_s=3)
    gate = AdmissionGate(open_admission_queue(limits), limits)
    started: AdmissionGate = await nursery.start(admission.run, gate.queue.receiver(), gate)
    return started


async def _hold(gate: AdmissionGate, release: trio.Event, log: list[str], name: str) -> None:
    async with gate.admit():
        log.append(f"{name} in at {trio.current_time():.0f}")
        await release.wait()


async def test_a_free_slot_admits_at_once(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    gate = await _start(nursery, slots=2, queue=1)
    start = trio.current_time()
    async with gate.admit():
        assert trio.current_time() == start
        assert gate.statistics().running == 1
    await trio.testing.wait_all_tasks_blocked()
    assert gate.statistics().running == 0
    assert gate.statistics().admitted == 1


async def test_queued_requests_are_admitted_in_arrival_order(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    gate = await _start(nursery, slots=1, queue=3)
    releases = [trio.Event() for _ in range(3)]
    log: list[str] = []
    for index, release in enumerate(releases):
        nursery.start_soon(_hold, gate, release, log, f"r{index}")
        await trio.testing.wait_all_tasks_blocked()
    assert log == ["r0 in at 0"]
    assert gate.statistics().queued == 2
    await trio.sleep(5)
    releases[0].set()
    await trio.testing.wait_all_tasks_blocked()
    await trio.sleep(5)
    releases[1].set()
    await trio.testing.wait_all_tasks_blocked()
    assert log == ["r0 in at 0", "r1 in at 5", "r2 in at 10"]
    releases[2].set()


async def test_full_slots_and_full_queue_refuse_at_once_with_busy(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    gate = await _start(nursery, slots=1, queue=1)
    release = trio.Event()
    log: list[str] = []
    nursery.start_soon(_hold, gate, release, log, "running")
    await trio.testing.wait_all_tasks_blocked()
    nursery.start_soon(_hold, gate, release, log, "queued")
    await trio.testing.wait_all_tasks_blocked()
    start = trio.current_time()
    with pytest.raises(ServerBusyError) as refused:
        async with gate.admit():
            pass
    assert trio.current_time() == start
    assert refused.value.retry_after_s == 3
    assert gate.statistics().refused == 1
    release.set()


async def test_a_request_cancelled_while_queued_gives_its_place_back(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    gate = await _start(nursery, slots=1, queue=2)
    release = trio.Event()
    log: list[str] = []
    nursery.start_soon(_hold, gate, release, log, "first")
    await trio.testing.wait_all_tasks_blocked()
    with trio.move_on_after(1):
        async with gate.admit():
            log.append("never")
    release.set()
    await trio.testing.wait_all_tasks_blocked()
    # The abandoned ticket did not keep the slot: a new request gets it at once.
    async with gate.admit():
        assert gate.statistics().running == 1
    assert "never" not in log


async def test_a_slot_is_released_when_the_request_fails(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    gate = await _start(nursery, slots=1, queue=1)
    with pytest.raises(RuntimeError):
        async with gate.admit():
            raise RuntimeError("request failed")
    await trio.testing.wait_all_tasks_blocked()
    assert gate.statistics().running == 0


def test_limits_below_one_are_refused() -> None:
    limits = AdmissionLimits(slots=0, queue=1)
    with pytest.raises(ValueError, match="at least one slot"):
        AdmissionGate(open_admission_queue(AdmissionLimits(slots=1, queue=1)), limits)


async def test_lowering_slots_keeps_running_requests_and_admits_as_slots_come_free(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    gate = await _start(nursery, slots=3, queue=5)
    releases = [trio.Event() for _ in range(5)]
    log: list[str] = []
    for index in range(3):
        nursery.start_soon(_hold, gate, releases[index], log, f"r{index}")
        await trio.testing.wait_all_tasks_blocked()
    gate.resize(slots=1)
    for index in (3, 4):
        nursery.start_soon(_hold, gate, releases[index], log, f"r{index}")
        await trio.testing.wait_all_tasks_blocked()
    assert gate.statistics().running == 3  # nobody running was dropped
    assert gate.statistics().queued == 2
    for index in (0, 1):
        await trio.sleep(10)
        releases[index].set()
        await trio.testing.wait_all_tasks_blocked()
    assert gate.statistics().running == 1  # still over the new limit: freed slots retired
    await trio.sleep(10)
    releases[2].set()
    await trio.testing.wait_all_tasks_blocked()
    assert log[3:] == ["r3 in at 30"]
    assert gate.statistics().running == 1


async def test_raising_slots_admits_queued_requests_at_once(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    gate = await _start(nursery, slots=1, queue=5)
    release = trio.Event()
    log: list[str] = []
    for index in range(3):
        nursery.start_soon(_hold, gate, release, log, f"r{index}")
        await trio.testing.wait_all_tasks_blocked()
    await trio.sleep(7)
    gate.resize(slots=3)
    await trio.testing.wait_all_tasks_blocked()
    assert log == ["r0 in at 0", "r1 in at 7", "r2 in at 7"]
    release.set()


async def test_a_shorter_queue_refuses_new_arrivals_only(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    gate = await _start(nursery, slots=1, queue=3)
    release = trio.Event()
    log: list[str] = []
    for index in range(3):
        nursery.start_soon(_hold, gate, release, log, f"r{index}")
        await trio.testing.wait_all_tasks_blocked()
    gate.resize(queue=1)
    assert gate.statistics().queued == 2  # already waiting: kept
    with pytest.raises(ServerBusyError):
        async with gate.admit():
            pass
    release.set()
