"""What the HTTP front needs to know about the running service, in one typed record.

The service assembly (``pipe_service.service``) fills it in as actors start; routes only read it.
Keeping it a plain dataclass (not a global) lets tests build a front around a hand-made context.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from prometheus_client import CollectorRegistry

from actors import Supervisor
from pipe_service.config import Settings
from pipe_service.workers.control import ControlChannel

if TYPE_CHECKING:
    from pipe_service.config.live import LiveSettings

ReadinessCheck = Callable[[], Awaitable[str | None]]
"""Returns None when the dependency is usable, else a short reason it is not."""


@dataclass
class ServiceContext:
    """The running service as the front sees it."""

    settings: Settings
    supervisor: Supervisor
    upstream_mode: Literal["openrouter", "simulator"]
    upstream_base_url: str
    readiness_checks: dict[str, ReadinessCheck] = field(default_factory=dict)
    details: dict[str, object] = field(default_factory=dict)
    details_providers: dict[str, Callable[[], object]] = field(default_factory=dict)
    metrics_registry: CollectorRegistry | None = None
    """The service's registry (request metrics, scrape-time collectors); None: actors only."""
    scrape_probes: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """Run by ``/metrics`` before collecting (e.g. the database ping)."""
    live: LiveSettings | None = None
    """Run-time settings (``pipe-service set`` / reload); None when the process has none."""
    control: ControlChannel | None = None
    """One worker of several (``serve --workers N``): the channel to the supervisor process,
    which operator routes that must reach every worker go through (set, reload, catalog
    refresh, status, metrics). None in a single process: they act on this process alone."""

    def status_details(self) -> dict[str, object]:
        """Static details plus live ones, read at call time (for ``/status``)."""
        return {**self.details, **{name: read() for name, read in self.details_providers.items()}}

    async def readiness(self) -> dict[str, str | None]:
        """Run every readiness check; a check that raises reports its error type and message."""
        results: dict[str, str | None] = {}
        for name, check in self.readiness_checks.items():
            try:
                results[name] = await check()
            except Exception as exc:  # a failing dependency is a readiness answer, not a crash
                results[name] = f"{type(exc).__name__}: {exc}"[:300]
        return results
