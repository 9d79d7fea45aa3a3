"""The memory-return actor trims after large releases only, on virtual time."""

from __future__ import annotations

from functools import partial

import trio
import trio.testing

from pipe_service.admission import memory_return
from pipe_service.admission.byte_budget import ByteBudget

MIB = 1024 * 1024


async def _start(nursery: trio.Nursery, budget: ByteBudget, trims: list[float]) -> None:
    """Start the actor; ``trims`` collects the times of its trims, relative to its start."""
    origin = trio.current_time()

    def trim() -> None:
        trims.append(trio.current_time() - origin)

    started = await nursery.start(partial(memory_return.run, budget, trim=trim))
    assert started is True


def _release(budget: ByteBudget, size: int) -> None:
    reservation = budget.try_reserve(size)
    assert reservation is not None
    reservation.release()


async def test_a_large_release_is_trimmed_at_the_next_check_and_followed_up(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    budget = ByteBudget(100 * MIB)
    trims: list[float] = []
    await _start(nursery, budget, trims)
    _release(budget, 30 * MIB)
    await trio.sleep(10)
    interval = memory_return.CHECK_INTERVAL_S
    expected = [interval * (1 + n) for n in range(1 + memory_return.FOLLOW_UP_TRIMS)]
    assert trims == expected


async def test_small_releases_never_trim(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    budget = ByteBudget(100 * MIB)
    trims: list[float] = []
    await _start(nursery, budget, trims)
    for _ in range(5):
        _release(budget, 1024)
        await trio.sleep(1)
    assert trims == []


async def test_small_releases_add_up_to_a_trim(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    budget = ByteBudget(100 * MIB)
    trims: list[float] = []
    await _start(nursery, budget, trims)
    for _ in range(3):
        _release(budget, 3 * MIB)
    await trio.sleep(1.5)
    assert trims == [1.0]


def test_glibc_trim_is_found_on_linux() -> None:
    assert memory_return.glibc_trim() is not None
