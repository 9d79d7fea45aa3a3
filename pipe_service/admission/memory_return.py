"""Give the memory of finished large requests back to the operating system.

Measured (docs/benchmarks.md): after four 30 MiB chats a ``pipe-service serve`` process kept
~30 MiB of RSS per request for as long as it stayed idle. Two causes: the request's objects
were still reachable from reference cycles (frames and exceptions of the finished request)
that Python's cyclic collector had no reason to visit yet, and glibc keeps freed chunks in its
heap (it only trims the top). So once enough request bytes were released (per the
:class:`ByteBudget`) this actor runs a full ``gc.collect()`` and then ``malloc_trim(0)``, which
also releases free pages in the middle of the heap: RSS returns to its start. It does so at
most once per check interval (plus a few follow-ups, as a request's last objects may die a
moment after its bytes left the budget), and only after ``TRIM_AFTER_BYTES`` were released, so
a steady stream of small requests never pays for it (a collection costs tens of ms).

Synopsis::

    await supervisor.start(ActorSpec("memory_return", partial(memory_return.run, budget)))
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
from collections.abc import Callable
from typing import Final, NoReturn

import trio

from pipe_service.admission.byte_budget import ByteBudget

logger = logging.getLogger("pipe_service.admission.memory_return")

CHECK_INTERVAL_S: Final = 1.0
"""How often the budget is looked at; a trim follows a large request by at most this long."""
TRIM_AFTER_BYTES: Final = 8 * 1024 * 1024
"""Request bytes released since the last trim before another is worth its cost (~ms)."""
FOLLOW_UP_TRIMS: Final = 3
"""Trims on the next checks too: a request's objects (and a refused body still arriving) may
be freed a moment after its bytes left the budget."""


def glibc_trim() -> Callable[[], None] | None:
    """``malloc_trim(0)`` of the C library when it has one (glibc), else None."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # musl and others have no malloc_trim
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def call() -> None:
        trim(0)

    return call


def _no_trim() -> None:
    """The C library has no ``malloc_trim``: collecting cycles is all that can be done."""


async def run(
    budget: ByteBudget,
    *,
    trim: Callable[[], None] | None = None,
    task_status: trio.TaskStatus[bool] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """Collect cycles and trim the C heap after large requests end.

    Consumes nothing but the budget's statistics (read every ``CHECK_INTERVAL_S``, on a fixed
    schedule that does not drift); produces ``gc.collect()`` and calls to ``trim`` (default:
    glibc's ``malloc_trim``). ``started()`` returns whether a C-heap trim exists (without one
    the actor still collects cycles).

    Resource handling: holds none. Error handling: none expected; a failing trim propagates to
    the supervisor (a bug, not load).
    """
    trim = trim or glibc_trim() or _no_trim
    task_status.started(trim is not _no_trim)
    trimmed_at = budget.statistics().released_total
    follow_ups = 0
    deadline = trio.current_time()
    while True:
        deadline += CHECK_INTERVAL_S
        await trio.sleep_until(deadline)
        released = budget.statistics().released_total
        if released - trimmed_at >= TRIM_AFTER_BYTES:
            trimmed_at = released
            follow_ups = FOLLOW_UP_TRIMS
        elif follow_ups:
            follow_ups -= 1
        else:
            continue
        gc.collect()
        trim()
        logger.debug("returned freed memory to the OS", extra={"released": released})
