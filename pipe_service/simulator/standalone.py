"""``pipe-service simulator``: the OpenRouter simulator as its own process (demos, benchmarks)."""

from __future__ import annotations

import argparse
import logging
import signal

import trio

from pipe_service.simulator.config import SimulatorConfig
from pipe_service.simulator.server import serve_simulator

logger = logging.getLogger("pipe_service.simulator")


def add_pacing_options(parser: argparse.ArgumentParser) -> None:
    """Add the process-wide pacing flags (a client's ``X-Sim-*`` headers still override them).

    Benchmarks need them: a sidecar builds its own upstream request, so a client's headers and
    metadata never reach the simulator behind it.
    """
    defaults = SimulatorConfig()
    parser.add_argument(
        "--first-token-delay",
        type=float,
        default=defaults.first_token_delay_s,
        metavar="SECONDS",
        help="pause before response.created",
    )
    parser.add_argument(
        "--inter-delta-delay",
        type=float,
        default=defaults.inter_delta_delay_s,
        metavar="SECONDS",
        help="pause between consecutive deltas",
    )
    parser.add_argument(
        "--answer-words",
        type=int,
        default=defaults.answer_words,
        help="filler words in a text answer",
    )
    parser.add_argument(
        "--words-per-delta", type=int, default=defaults.words_per_delta, help="words per delta"
    )


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """The simulator configuration given by ``--catalog`` and the pacing flags."""
    return SimulatorConfig(
        catalog_path=args.catalog,
        first_token_delay_s=args.first_token_delay,
        inter_delta_delay_s=args.inter_delta_delay,
        answer_words=args.answer_words,
        words_per_delta=args.words_per_delta,
        request_log_size=getattr(args, "request_log", 0),
    )


async def run_standalone(host: str, port: int, config: SimulatorConfig) -> None:
    """Serve the simulator on ``host:port`` until SIGTERM or SIGINT."""
    stop = trio.Event()

    async def wait_for_stop() -> None:
        await stop.wait()

    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            urls: list[str] = await nursery.start(
                lambda task_status=trio.TASK_STATUS_IGNORED: serve_simulator(
                    config,
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
