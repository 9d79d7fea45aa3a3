"""``pipe-service simulator``: the OpenRouter simulator as its own process (demos, benchmarks)."""

from __future__ import annotations

import logging
import signal
from pathlib import Path

import trio

from pipe_service.simulator.config import SimulatorConfig
from pipe_service.simulator.server import serve_simulator

logger = logging.getLogger("pipe_service.simulator")


async def run_standalone(host: str, port: int, catalog: Path | None) -> None:
    """Serve the simulator on ``host:port`` until SIGTERM or SIGINT."""
    stop = trio.Event()

    async def wait_for_stop() -> None:
        await stop.wait()

    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            urls: list[str] = await nursery.start(
                lambda task_status=trio.TASK_STATUS_IGNORED: serve_simulator(
                    SimulatorConfig(catalog_path=catalog),
                    binds=[f"{host}:{port}"],
                    shutdown_trigger=wait_for_stop,
                    task_status=task_status,
                )
            )
            logger.info("OpenRouter simulator serving at %s/api/v1", urls[0])
            async for signum in signals:
                logger.info("simulator stopping on %s", signal.Signals(signum).name)
                stop.set()
                break
