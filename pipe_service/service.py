"""Assemble and run one sidecar process: the supervisor, its actors, and the front, in order.

Start order follows the dependencies (the HTTP front last) so that no route can serve before
what it needs is ready; the supervisor stops them in the reverse order.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from functools import partial
from typing import NoReturn

import trio
from pydantic import SecretStr

from actors import ActorSpec, RestartIntensityExceeded, RestartPolicy, Supervisor, open_supervisor
from actors.signals import watch_signals
from pipe_service.admission.gate import AdmissionGate, AdmissionLimits
from pipe_service.catalog import actor as catalog_actor
from pipe_service.catalog.actor import Catalog, CatalogPolicy
from pipe_service.chat.gateway import ChatGateway, StreamingOptions
from pipe_service.config import Settings
from pipe_service.context import ServiceContext
from pipe_service.front.app import create_front_app
from pipe_service.front.serve import serve_front
from pipe_service.openrouter.client import OpenRouterClient
from pipe_service.openrouter.client_config import UpstreamClientConfig
from pipe_service.sessions import actor as sessions_actor
from pipe_service.sessions.actor import Sessions, ShutdownPolicy
from pipe_service.simulator.config import SimulatorConfig
from pipe_service.simulator.server import serve_simulator
from pipe_service.storage.engine import Database
from pipe_service.tools import actor as tools_actor
from pipe_service.tools.runner import ToolRunner

logger = logging.getLogger("pipe_service.service")

EXIT_OK = 0
EXIT_ACTOR_FAILED = 70  # EX_SOFTWARE: an actor kept crashing past its restart intensity


@dataclass(frozen=True)
class RunningService:
    """Handles to the parts of a started service (tests and the CLI read them)."""

    context: ServiceContext
    gateway: ChatGateway
    catalog: Catalog
    bound: list[str]


def restart_policy(settings: Settings) -> RestartPolicy:
    return RestartPolicy(
        max_restarts=settings.restart_max,
        window_s=settings.restart_window_s,
        backoff_initial_s=settings.restart_backoff_initial_s,
        backoff_max_s=settings.restart_backoff_max_s,
    )


async def run_service(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT (exit 0) or an actor fails past its restart limit (exit 70)."""
    exit_code = EXIT_OK
    try:
        async with (
            open_database(settings) as database,
            open_supervisor(grace_s=settings.shutdown_grace_s) as supervisor,
        ):
            await start_service(supervisor, settings, database)
            await supervisor.wait_shutdown_requested()
            logger.info("shutting down: %s", supervisor.shutdown_reason)
    except* RestartIntensityExceeded as escalated:
        for failure in escalated.exceptions:
            logger.critical("stopping: %s", failure)
        exit_code = EXIT_ACTOR_FAILED
    except* Exception as crashed:
        for error in crashed.exceptions:
            logger.critical("stopping: %s: %s", type(error).__name__, error, exc_info=error)
        exit_code = EXIT_ACTOR_FAILED
    if exit_code == EXIT_OK:
        logger.info("stopped cleanly")
    return exit_code


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    database = Database.open(settings.effective_database_url, pool_size=settings.db_pool_size)
    try:
        yield database
    finally:
        database.dispose()


async def start_service(
    supervisor: Supervisor, settings: Settings, database: Database
) -> RunningService:
    """Start every actor of the service under ``supervisor``, the front last."""
    restarts = restart_policy(settings)
    await supervisor.start(ActorSpec("signals", watch_signals, args=(supervisor,)))

    upstream_config = settings.upstream
    if settings.uses_simulator:
        simulator_key = f"sk-or-sim-{secrets.token_hex(16)}"
        simulator_config = SimulatorConfig(
            catalog_path=settings.simulator_catalog_path,
            api_keys=[simulator_key],
            first_token_delay_s=settings.simulator_first_token_delay_s,
            inter_delta_delay_s=settings.simulator_inter_delta_delay_s,
            retry_after_s=settings.simulator_retry_after_s,
        )
        urls: list[str] = await supervisor.start(
            ActorSpec(
                "simulator",
                partial(serve_simulator, simulator_config, binds=["127.0.0.1:0"]),
            )
        )
        upstream_config = upstream_config.model_copy(
            update={"base_url": f"{urls[0]}/api/v1", "api_key": SecretStr(simulator_key)}
        )
        logger.warning(
            "no OPENROUTER_API_KEY: the built-in OpenRouter simulator is the upstream (%s); "
            "every answer is simulated",
            upstream_config.base_url,
        )
    else:
        upstream_config = upstream_config.model_copy(
            update={"api_key": settings.openrouter_api_key}
        )
        logger.info("upstream is OpenRouter at %s", upstream_config.base_url)

    client: OpenRouterClient = await supervisor.start(
        ActorSpec("upstream", partial(hold_upstream_client, upstream_config))
    )

    catalog = Catalog(settings.models)
    policy = CatalogPolicy(
        ttl_s=settings.catalog.ttl_s,
        retry_initial_s=settings.catalog.retry_initial_s,
        retry_max_s=settings.catalog.retry_max_s,
        warmup_s=settings.catalog.warmup_s,
    )
    await supervisor.start(
        ActorSpec(
            "catalog",
            partial(catalog_actor.run, allow_fault_injection=settings.fault_injection),
            args=(catalog, client.list_models, policy),
            inbox=catalog.inbox,
            restart=restarts,
        )
    )

    limits = AdmissionLimits(
        slots=settings.admission.slots,
        queue=settings.admission.queue,
        retry_after_s=settings.admission.retry_after_s,
    )
    gate = AdmissionGate(limits)
    tool_runner = ToolRunner(settings.tools)
    await supervisor.start(
        ActorSpec("tools", tools_actor.run, args=(tool_runner,), restart=restarts)
    )
    sessions = Sessions(
        ShutdownPolicy(
            wait_requested=supervisor.wait_shutdown_requested,
            drain_s=settings.graceful_timeout_s * settings.shutdown_drain_fraction,
        ),
        outbox_size=settings.streaming.turn_outbox_size,
    )
    await supervisor.start(
        ActorSpec("sessions", sessions_actor.run, args=(sessions,), restart=restarts)
    )

    gateway = ChatGateway(
        catalog=catalog,
        sessions=sessions,
        admission=gate,
        client=client,
        options=settings.chat,
        streaming=StreamingOptions(
            flush_bytes=settings.streaming.flush_bytes,
            flush_interval_s=settings.streaming.flush_interval_s,
            waiting_status_after_s=settings.streaming.waiting_status_after_s,
            waiting_status_every_s=settings.streaming.waiting_status_every_s,
            raw_outbox_size=settings.streaming.raw_outbox_size,
            max_event_bytes=settings.streaming.max_event_bytes,
        ),
        messages=settings.messages,
        tools=tool_runner,
    )
    context = ServiceContext(
        settings=settings,
        supervisor=supervisor,
        upstream_mode="simulator" if settings.uses_simulator else "openrouter",
        upstream_base_url=upstream_config.base_url,
    )
    context.readiness_checks["catalog"] = partial(_catalog_ready, catalog)
    context.readiness_checks["storage"] = partial(_storage_ready, database)
    context.details["storage"] = {"backend": database.backend, "url": database.redacted_url}
    context.details_providers["catalog"] = lambda: asdict(catalog.statistics())
    context.details_providers["admission"] = lambda: asdict(gate.statistics())
    context.admission_statistics = gate.statistics
    context.details_providers["sessions"] = lambda: asdict(sessions.statistics())
    context.details_providers["tools"] = lambda: asdict(tool_runner.statistics())
    context.details_providers["upstream_client"] = lambda: asdict(client.statistics())

    app = create_front_app(context, gateway=gateway, catalog=catalog)
    bound: list[str] = await supervisor.start(
        ActorSpec(
            "front",
            partial(serve_front, app, settings, supervisor.wait_shutdown_requested),
            stops_on_shutdown=True,
        )
    )
    logger.info("serving on %s", ", ".join(bound))
    return RunningService(context=context, gateway=gateway, catalog=catalog, bound=bound)


async def hold_upstream_client(
    config: UpstreamClientConfig,
    *,
    task_status: trio.TaskStatus[OpenRouterClient] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """Own the OpenRouter client's connection pools for the life of the process.

    ``started()`` returns the client. Resource handling: every pool is closed on the way out.
    Error handling: nothing to handle; requests report their own errors.
    """
    async with OpenRouterClient(config) as client:
        task_status.started(client)
        await trio.sleep_forever()
    raise AssertionError("unreachable")


async def _catalog_ready(catalog: Catalog) -> str | None:
    if catalog.loaded:
        return None
    error = catalog.last_error or "not fetched yet"
    return f"no model catalog yet ({error})"


async def _storage_ready(database: Database) -> str | None:
    with trio.move_on_after(5):
        await database.ping()
        return None
    return "storage did not answer within 5 s"
