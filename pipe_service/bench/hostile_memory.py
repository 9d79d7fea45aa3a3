"""``pipe-service bench --hostile-memory``: RSS of a sidecar under four 30 MiB chats at once.

Starts the simulator and a sidecar as child processes (the sidecar's RSS is then its own, not
the simulator's), with ``admission.max_request_bytes_in_flight`` set to the budget under test.
Sends ``requests`` chat bodies of ``body_mib`` MiB each at the same moment over the Unix
socket, samples the sidecar's RSS every 20 ms, then waits ``settle_s`` and reads RSS again.
Prints one Markdown table row per budget: the answers (200 / 503), RSS at start, peak and
after, and the peak over start as a multiple of the budget.

Synopsis::

    pipe-service bench --hostile-memory            # budgets 64 and 256 MiB
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import trio

from pipe_service.bench.plan import MODEL, Scenario
from pipe_service.bench.proc_stats import RssPeak, rss_bytes
from pipe_service.bench.processes import start_sidecar, start_simulator, uds_client

MIB: Final = 1024 * 1024
REQUESTS: Final = 4
BODY_MIB: Final = 30
BUDGETS_MIB: Final = (64, 256)
SETTLE_S: Final = 5.0
"""Long enough for the memory-return actor (1 s checks plus follow-ups) to act."""
_QUIET: Final = Scenario("hostile", first_token_delay_s=0.0, inter_delta_delay_s=0.0, deltas=8)


@dataclass(frozen=True, slots=True)
class MemoryRow:
    budget_mib: int
    statuses: tuple[int, ...]
    start_mib: float
    peak_mib: float
    after_mib: float

    @property
    def peak_over_budget(self) -> float:
        return (self.peak_mib - self.start_mib) / self.budget_mib


def chat_body(body_mib: int) -> bytes:
    """A chat body of about ``body_mib`` MiB: one user message of short words."""
    words = "word " * (body_mib * MIB // 5)
    payload = {"model": MODEL, "stream": False, "messages": [{"role": "user", "content": words}]}
    return json.dumps(payload).encode()


async def measure(budget_mib: int, work_dir: Path, progress: Callable[[str], None]) -> MemoryRow:
    """One sidecar with this budget, ``REQUESTS`` bodies at once; its RSS before, at peak, after."""
    body = chat_body(BODY_MIB)
    statuses: list[int] = []
    async with trio.open_nursery() as nursery:
        simulator = await start_simulator(nursery, _QUIET, work_dir, limit_s=60)
        sidecar = await start_sidecar(
            nursery,
            simulator,
            work_dir / f"var-{budget_mib}",
            work_dir,
            slots=REQUESTS,
            extra_env={
                "PIPE_SERVICE_ADMISSION__MAX_REQUEST_BYTES_IN_FLIGHT": str(budget_mib * MIB),
            },
            limit_s=60,
        )
        await trio.sleep(1)  # let start-up allocations settle
        start = rss_bytes(sidecar.pid)
        peak = RssPeak(sidecar.pid)
        progress(f"budget {budget_mib} MiB: {REQUESTS} x {len(body) / MIB:.0f} MiB at once")

        async def send() -> None:
            async with uds_client(sidecar.socket_path) as client:
                response = await client.post(
                    "/v1/chat/completions",
                    content=body,
                    headers={"content-type": "application/json"},
                )
                statuses.append(response.status_code)

        async with trio.open_nursery() as sampling:
            await sampling.start(peak.run)
            with trio.fail_after(300):
                async with trio.open_nursery() as senders:
                    for _ in range(REQUESTS):
                        senders.start_soon(send)
            sampling.cancel_scope.cancel()
        await trio.sleep(SETTLE_S)
        after = rss_bytes(sidecar.pid)
        nursery.cancel_scope.cancel()
    return MemoryRow(
        budget_mib, tuple(sorted(statuses)), start / MIB, peak.bytes / MIB, after / MIB
    )


def render(rows: list[MemoryRow]) -> str:
    lines = [
        f"| budget | answers ({REQUESTS} x {BODY_MIB} MiB at once) | RSS start | RSS peak "
        f"| RSS after {SETTLE_S:g} s | (peak - start) / budget |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        answers = ", ".join(str(status) for status in row.statuses)
        lines.append(
            f"| {row.budget_mib} MiB | {answers} | {row.start_mib:.0f} MiB "
            f"| {row.peak_mib:.0f} MiB | {row.after_mib:.0f} MiB | {row.peak_over_budget:.2f} |"
        )
    return "\n".join(lines)


async def run_hostile_memory(
    work_dir: Path | None, progress: Callable[[str], None]
) -> list[MemoryRow]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="pipe-service-bench-") as scratch:
        base = work_dir or Path(scratch)
        for budget in BUDGETS_MIB:
            rows.append(await measure(budget, base, progress))
    return rows
