"""The byte budget: admit by bytes, refuse at once beyond it, release exactly once."""

from __future__ import annotations

import pytest

from pipe_service.admission.byte_budget import ByteBudget


def test_reservations_within_capacity_are_admitted() -> None:
    budget = ByteBudget(100)
    first = budget.try_reserve(60)
    second = budget.try_reserve(40)
    assert first is not None
    assert second is not None
    assert budget.statistics().in_flight == 100


def test_a_reservation_beyond_capacity_is_refused_and_counted() -> None:
    budget = ByteBudget(100)
    assert budget.try_reserve(70) is not None
    assert budget.try_reserve(31) is None
    stats = budget.statistics()
    assert stats.refused == 1
    assert stats.in_flight == 70


def test_a_request_larger_than_the_whole_budget_is_always_refused() -> None:
    assert ByteBudget(100).try_reserve(101) is None


def test_release_is_idempotent_and_frees_the_bytes() -> None:
    budget = ByteBudget(100)
    reservation = budget.try_reserve(80)
    assert reservation is not None
    reservation.release()
    reservation.release()
    stats = budget.statistics()
    assert stats.in_flight == 0
    assert stats.released_total == 80
    assert budget.try_reserve(100) is not None


def test_the_context_manager_releases_on_error() -> None:
    budget = ByteBudget(100)
    reservation = budget.try_reserve(50)
    assert reservation is not None
    with pytest.raises(RuntimeError), reservation:
        raise RuntimeError("the request failed")
    assert budget.statistics().in_flight == 0


def test_a_reservation_grows_while_it_fits_and_keeps_its_size_when_not() -> None:
    budget = ByteBudget(100)
    reservation = budget.try_reserve(10)
    assert reservation is not None
    assert reservation.try_grow(50)
    assert not reservation.try_grow(41)
    assert reservation.size == 60
    reservation.release()
    assert budget.statistics().in_flight == 0


def test_the_peak_is_remembered() -> None:
    budget = ByteBudget(100)
    reservation = budget.try_reserve(90)
    assert reservation is not None
    reservation.release()
    assert budget.statistics().peak == 90
