"""The catalog actor: keeps the OpenRouter model registry fresh, and serves a stale one on failure.

Synopsis::

    catalog = Catalog(filters)
    await supervisor.start(
        ActorSpec("catalog", run, args=(catalog, client.list_models, policy), inbox=catalog.inbox,
                  restart=restart_policy)
    )
    model = catalog.current().require("anthropic/claude-sonnet-4.5")
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import trio

from actors.inbox import Inbox, InboxReceiver, OverloadPolicy
from pipe_service.catalog.filters import CatalogFilterOptions
from pipe_service.catalog.registry import ModelRegistry
from pipe_service.catalog.sources import CatalogSources

logger = logging.getLogger("pipe_service.pipe_service.catalog.actor")

CATALOG_INBOX_SIZE = 4

FetchModels = Callable[[], Awaitable[Mapping[str, Any] | CatalogSources]]
"""Fetches ``/models`` (a payload) or everything a refresh reads (:class:`CatalogSources`)."""


class CatalogUnavailableError(Exception):
    """No catalog has been fetched yet (upstream unreachable since start); ``retry_after_s`` is
    the hint the fronts send with it (``catalog.unavailable_retry_after_s``)."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Refresh:
    """Fetch the catalog now instead of waiting for the TTL."""


@dataclass(frozen=True)
class InjectFault:
    """Crash the actor (fault injection for operators' drills and tests; off by default)."""


CatalogCommand = Refresh | InjectFault


@dataclass(frozen=True)
class CatalogPolicy:
    ttl_s: float = 600.0
    retry_initial_s: float = 2.0
    retry_max_s: float = 300.0
    warmup_s: float = 10.0


@dataclass(frozen=True)
class CatalogStatistics:
    models: int
    fetched_at: float | None
    age_s: float | None
    fetches: int
    failures: int
    consecutive_failures: int
    last_error: str | None


class Catalog:
    """The shared view of the catalog; outlives actor restarts so a crash never empties it."""

    def __init__(
        self, filters: CatalogFilterOptions, *, unavailable_retry_after_s: int = 5
    ) -> None:
        self.filters = filters
        self.unavailable_retry_after_s = unavailable_retry_after_s
        self.inbox = Inbox[CatalogCommand]("catalog", CATALOG_INBOX_SIZE, OverloadPolicy.DROP)
        self._registry: ModelRegistry | None = None
        self._loaded_at: float | None = None
        self._loaded = trio.Event()
        self.fetches = 0
        self.failures = 0
        self.consecutive_failures = 0
        self.last_error: str | None = None

    def current(self) -> ModelRegistry:
        """The newest registry, maybe stale; :class:`CatalogUnavailableError` before the first."""
        if self._registry is None:
            raise CatalogUnavailableError(
                "the model catalog is not loaded yet"
                + (f" (last error: {self.last_error})" if self.last_error else ""),
                retry_after_s=self.unavailable_retry_after_s,
            )
        return self._registry

    @property
    def loaded(self) -> bool:
        return self._registry is not None

    async def wait_loaded(self) -> None:
        await self._loaded.wait()

    def request_refresh(self) -> bool:
        """Ask for a refresh; False when one is already pending (the inbox drops duplicates)."""
        return self.inbox.send_nowait(Refresh())

    def age_s(self) -> float | None:
        return None if self._loaded_at is None else trio.current_time() - self._loaded_at

    def install(self, registry: ModelRegistry) -> None:
        self._registry = registry
        self._loaded_at = trio.current_time()
        self.consecutive_failures = 0
        self.last_error = None
        self._loaded.set()

    def record_failure(self, error: str) -> None:
        self.failures += 1
        self.consecutive_failures += 1
        self.last_error = error

    def statistics(self) -> CatalogStatistics:
        registry = self._registry
        return CatalogStatistics(
            models=len(registry) if registry is not None else 0,
            fetched_at=registry.fetched_at if registry is not None else None,
            age_s=self.age_s(),
            fetches=self.fetches,
            failures=self.failures,
            consecutive_failures=self.consecutive_failures,
            last_error=self.last_error,
        )


def retry_delay(policy: CatalogPolicy, consecutive_failures: int) -> float:
    """Exponential backoff after the n-th consecutive failure, capped by ``retry_max_s``."""
    exponent = max(consecutive_failures - 1, 0)
    return float(min(policy.retry_initial_s * math.pow(2, exponent), policy.retry_max_s))


async def run(
    inbox: InboxReceiver[CatalogCommand],
    catalog: Catalog,
    fetch: FetchModels,
    policy: CatalogPolicy,
    *,
    allow_fault_injection: bool = False,
    task_status: trio.TaskStatus[Catalog] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Fetch ``/models`` at start, then every ``ttl_s``, or at once on a :class:`Refresh`.

    Consumes :class:`CatalogCommand` messages; produces new :class:`ModelRegistry` values
    installed on ``catalog``. ``started()`` returns ``catalog`` after the warm-up fetch succeeded
    or ``warmup_s`` passed, so a dead upstream never blocks start-up (``/readyz`` says not ready
    until a catalog arrives). Resource handling: owns nothing but its inbox clone; the fetch
    callable's client belongs to the caller. Error handling: a failed fetch (network, HTTP
    error, bad payload) keeps the stale registry, is counted, and is retried with exponential
    backoff; :class:`InjectFault` raises so the supervisor's restart path can be exercised.
    """
    with trio.move_on_after(policy.warmup_s) as warmup:
        await _refresh(catalog, fetch)
    if warmup.cancelled_caught:
        catalog.record_failure(f"warm-up fetch took longer than {policy.warmup_s} s")
    task_status.started(catalog)
    async with inbox:
        while True:
            if catalog.consecutive_failures:
                delay = retry_delay(policy, catalog.consecutive_failures)
            else:
                delay = policy.ttl_s
            command: CatalogCommand | None = None
            with trio.move_on_after(delay):
                try:
                    command = await inbox.receive()
                except trio.EndOfChannel:
                    return
            if isinstance(command, InjectFault):
                if allow_fault_injection:
                    raise RuntimeError("injected fault in the catalog actor")
                logger.warning("fault injection is disabled; ignoring InjectFault")
                continue
            await _refresh(catalog, fetch)


async def _refresh(catalog: Catalog, fetch: FetchModels) -> None:
    catalog.fetches += 1
    try:
        fetched = await fetch()
        if isinstance(fetched, CatalogSources):
            registry = ModelRegistry.from_sources(fetched, catalog.filters)
        else:
            registry = ModelRegistry.from_payload(fetched, catalog.filters)
    except Exception as exc:  # any fetch failure keeps the stale catalog; retried with backoff
        catalog.record_failure(f"{type(exc).__name__}: {exc}"[:300])
        logger.warning(
            "catalog refresh failed; keeping the previous catalog: %s",
            catalog.last_error,
            extra={
                "error": catalog.last_error,
                "consecutive_failures": catalog.consecutive_failures,
            },
        )
        return
    catalog.install(registry)
    logger.info("catalog loaded", extra={"models": len(registry)})
