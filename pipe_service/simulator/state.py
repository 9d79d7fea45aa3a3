"""Everything one simulator app holds between requests."""

from __future__ import annotations

from dataclasses import dataclass, field

import trio

from pipe_service.simulator.catalog import Catalog, load_catalog, load_sim_catalog
from pipe_service.simulator.config import SimulatorConfig
from pipe_service.simulator.generations import GenerationLog
from pipe_service.simulator.pacing import Pacing
from pipe_service.simulator.request_log import RequestLog


@dataclass(slots=True)
class SimulatorState:
    config: SimulatorConfig
    catalog: Catalog
    sim_catalog: Catalog
    pacing: Pacing
    requests: RequestLog
    generations: GenerationLog
    # Slugs dropped from `GET /api/v1/models` by `PUT /_sim/models/hidden` (a catalog change
    # OpenRouter makes when it retires a model); /responses still answers for them.
    hidden_models: frozenset[str] = frozenset()
    # Set when the server stops: every paused or stalled stream drops at once.
    stopping: trio.Event = field(default_factory=trio.Event)

    @classmethod
    def from_config(cls, config: SimulatorConfig) -> SimulatorState:
        return cls(
            config=config,
            catalog=load_catalog(config.catalog_path),
            sim_catalog=load_sim_catalog(),
            pacing=Pacing.from_config(config),
            requests=RequestLog(
                config.request_log_size,
                max_body_bytes=config.request_log_max_body_bytes,
                max_total_bytes=config.request_log_max_total_bytes,
            ),
            generations=GenerationLog(config.generation_log_size),
        )

    def stop_streams(self) -> None:
        self.stopping.set()
