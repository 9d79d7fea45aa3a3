"""Assemble and run one sidecar process: the supervisor, its actors, and the front, in order.

Start order follows the dependencies (the HTTP front last) so that no route can serve before
what it needs is ready; the supervisor stops them in the reverse order.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import NoReturn

import trio
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from actors import ActorSpec, RestartIntensityExceeded, RestartPolicy, Supervisor, open_supervisor
from actors.signals import watch_signals
from pipe_service.admission import memory_return
from pipe_service.admission.byte_budget import ByteBudget
from pipe_service.admission.gate import AdmissionGate, AdmissionLimits
from pipe_service.admission.user_breaker import UserRequestBreaker
from pipe_service.catalog import actor as catalog_actor
from pipe_service.catalog.actor import Catalog, CatalogPolicy, FetchModels
from pipe_service.catalog.shared_fetch import SharedCatalogFetch
from pipe_service.catalog.sources import SourcePlan, fetch_sources
from pipe_service.chat.gateway import ChatGateway
from pipe_service.chat.request_telemetry import Telemetry
from pipe_service.config import ConfigError, Settings
from pipe_service.config.reload_actor import watch_reload_signal
from pipe_service.config.session_secret import load_session_secret
from pipe_service.config.settings import is_loopback
from pipe_service.context import ServiceContext
from pipe_service.fetch import actor as fetch_actor
from pipe_service.fetch.fetcher import RemoteFetcher
from pipe_service.fetch.ssrf_guard import SystemResolver
from pipe_service.front.api_token import resolve_api_token
from pipe_service.front.app import create_front_app
from pipe_service.front.auth import TcpAccess
from pipe_service.front.health import status_body
from pipe_service.front.metrics import own_metric_families
from pipe_service.front.serve import serve_front
from pipe_service.instance_lock import claim_socket_path, hold_instance_lock, prepare_var_dir
from pipe_service.logsink.startup import start_log_sink
from pipe_service.logsink.writer import LogWriter
from pipe_service.media.intake import MediaIntake
from pipe_service.openrouter.client import OpenRouterClient
from pipe_service.openrouter.client_config import UpstreamClientConfig
from pipe_service.persistence import cleanup_actor, db_writer
from pipe_service.persistence.cleanup_actor import CleanupPolicy, CleanupStatistics
from pipe_service.persistence.db_writer import ArtifactWriter, WriterPolicy, open_writer_inbox
from pipe_service.persistence.recorder import ArtifactPersistence
from pipe_service.redis_link import RedisLink, redact_redis_url
from pipe_service.service_operations import ServiceParts, streaming_options, wire_operations
from pipe_service.sessions import actor as sessions_actor
from pipe_service.sessions.actor import Sessions, ShutdownPolicy
from pipe_service.simulator.catalog import CatalogError, load_catalog
from pipe_service.simulator.config import SimulatorConfig
from pipe_service.simulator.server import serve_simulator
from pipe_service.storage import bootstrap as storage_bootstrap
from pipe_service.storage.bootstrap import ArtifactStorage, BootstrapPolicy
from pipe_service.storage.dead_letter_actors import (
    DeadLetterBounds,
    DeadLetterCleanupStatistics,
    hold_store,
)
from pipe_service.storage.dead_letter_actors import run as dead_letter_cleanup
from pipe_service.storage.dead_letter_metrics import (
    DeadLetterCollector,
    DeadLetterHealth,
    probe_dead_letters,
)
from pipe_service.storage.dead_letters import DeadLetters
from pipe_service.storage.engine import Database
from pipe_service.telemetry.request_metrics import RequestMetrics
from pipe_service.tools import actor as tools_actor
from pipe_service.tools.runner import ToolRunner
from pipe_service.workers.control import ControlChannel
from pipe_service.workers.handoff import WorkerHandoff
from pipe_service.workers.live_values import with_live_values
from pipe_service.workers.parent_watch import watch_supervisor_process
from pipe_service.workers.supervisor_link import (
    SupervisorLink,
    WorkerDuties,
    answer_supervisor,
    forward_reload_signal,
)
from pipe_service.writebehind import cost_snapshots
from pipe_service.writebehind import flusher as redis_flusher
from pipe_service.writebehind.cost_snapshots import CostExport, open_cost_inbox
from pipe_service.writebehind.flusher import FlusherStatistics, FlushPolicy
from pipe_service.writebehind.queue import (
    WriteBehind,
    WriteBehindStatistics,
    new_flusher_id,
    open_nudge_inbox,
)

logger = logging.getLogger("pipe_service.service")

SIMULATOR_API_PATH = "/api/v1"

EXIT_OK = 0
EXIT_ACTOR_FAILED = 70  # EX_SOFTWARE: an actor kept crashing past its restart intensity
EXIT_CONFIG = 78  # EX_CONFIG: the configuration cannot be served (socket taken, port in use, ...)

SIMULATOR_SOCKET_UMASK = 0o177
"""The built-in simulator's socket is 0600: only this process's user reaches it (and its
request log, which holds prompts when enabled)."""
SIMULATOR_LOG_MAX_BODY_BYTES = 1024 * 1024
SIMULATOR_LOG_MAX_TOTAL_BYTES = 16 * 1024 * 1024

DATABASE_PROBE_LIMIT_S = 5.0  # a /metrics scrape waits this long for the database at most


@dataclass(frozen=True)
class RunningService:
    """Handles to the parts of a started service (tests and the CLI read them)."""

    context: ServiceContext
    gateway: ChatGateway
    catalog: Catalog
    bound: list[str]
    byte_budget: ByteBudget
    simulator_socket: Path | None
    """The built-in simulator's private socket (None when OpenRouter is the upstream)."""


def restart_policy(settings: Settings) -> RestartPolicy:
    return RestartPolicy(
        max_restarts=settings.restart_max,
        window_s=settings.restart_window_s,
        backoff_initial_s=settings.restart_backoff_initial_s,
        backoff_max_s=settings.restart_backoff_max_s,
    )


async def run_service(
    settings: Settings,
    *,
    reload_source: Callable[[], Settings] | None = None,
    worker: WorkerHandoff | None = None,
) -> int:
    """Run until SIGTERM/SIGINT (exit 0), an actor fails past its restart limit (exit 70), or
    the configuration cannot be served (exit 78, one line on stderr naming the setting).

    ``reload_source`` reads the configuration again (SIGHUP, ``pipe-service reload``).
    ``worker``: run as one worker of ``serve --workers N`` (:mod:`pipe_service.workers`).
    """
    exit_code = EXIT_OK
    try:
        prepare_var_dir(settings)
        async with (
            open_database(settings) as database,
            open_supervisor(grace_s=settings.shutdown_grace_s) as supervisor,
        ):
            await start_service(
                supervisor, settings, database, reload_source=reload_source, worker=worker
            )
            await supervisor.wait_shutdown_requested()
            logger.info("shutting down: %s", supervisor.shutdown_reason)
    except* ConfigError as refused:
        for problem in refused.exceptions:
            logger.critical("not starting: %s", problem)
            print(f"pipe-service: {problem}", file=sys.stderr, flush=True)
        exit_code = EXIT_CONFIG
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
    try:
        database = Database.open(settings.effective_database_url, pool_size=settings.db_pool_size)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise ConfigError(
            "configuration error: database_url: not a usable SQLAlchemy URL "
            f"({type(exc).__name__}); use sqlite:///path or postgresql://user@host/db "
            "(PIPE_SERVICE_DATABASE_URL / DATABASE_URL)"
        ) from None
    try:
        yield database
    finally:
        database.dispose()


async def start_service(
    supervisor: Supervisor,
    settings: Settings,
    database: Database,
    *,
    reload_source: Callable[[], Settings] | None = None,
    log_writer: LogWriter | None = None,
    worker: WorkerHandoff | None = None,
) -> RunningService:
    """Start every actor of the service under ``supervisor``, the front last.

    The log sink starts first (and, as a sink, stops last). When the CLI installed the sink
    handler on the root logger it is used; otherwise (tests) a detached handler is made, so
    the sink and its metrics exist without taking over the test's logging.

    ``worker``: one worker of several; its supervisor process holds the instance lock, bound
    the sockets, prepared the storage and the token, and runs the simulator.
    """
    restarts = restart_policy(settings)
    log_sink = await start_log_sink(supervisor, settings, restart=restarts, writer=log_writer)
    if worker is None:
        # The log sink came first (it writes to stderr, so even a refused lock is logged);
        # next, nothing in the var dir (sockets, token file) is touched without the lock.
        await supervisor.start(
            ActorSpec("instance_lock", partial(hold_instance_lock, settings), layer="sink")
        )
    link: RedisLink | None = None
    if settings.redis_url:
        refuse_fleet_without_shared_key(settings)
        link = await supervisor.start(
            ActorSpec("redis", partial(hold_redis_link, settings), layer="sink")
        )
    # Storage sinks next, before any producer (they stop last and drain what turns handed them).
    persistence = await start_persistence(supervisor, settings, database, restarts, link)
    await supervisor.start(ActorSpec("signals", watch_signals, args=(supervisor,)))
    if worker is not None:
        await supervisor.start(ActorSpec("supervisor_process", watch_supervisor_process))
    if worker is None:
        # Refuse a taken socket path before starting anything else (the front binds it last).
        claim_socket_path(settings.effective_socket_path, field="socket_path")
    api_token = resolve_api_token(settings)

    upstream_config = settings.upstream
    simulator_socket: Path | None = None
    if worker is not None and settings.uses_simulator:
        simulator_socket = worker.simulator_path
        upstream_config = upstream_config.model_copy(
            update={
                "base_url": f"http://simulator{SIMULATOR_API_PATH}",
                "api_key": SecretStr(worker.simulator_key or ""),
            }
        )
    elif settings.uses_simulator:
        simulator_config, simulator_key = built_in_simulator(settings)
        # A private Unix socket, not a port: no other local user can reach the simulator.
        simulator_socket = settings.simulator_socket_path
        claim_socket_path(simulator_socket, field="var_dir")
        await supervisor.start(
            ActorSpec(
                "simulator",
                partial(
                    serve_simulator,
                    simulator_config,
                    binds=[f"unix:{simulator_socket}"],
                    socket_umask=SIMULATOR_SOCKET_UMASK,
                ),
            )
        )
        upstream_config = upstream_config.model_copy(
            update={
                "base_url": f"http://simulator{SIMULATOR_API_PATH}",
                "api_key": SecretStr(simulator_key),
            }
        )
        logger.warning(
            "no OPENROUTER_API_KEY: the built-in OpenRouter simulator is the upstream (private "
            "socket %s); every answer is simulated",
            simulator_socket,
        )
    else:
        upstream_config = upstream_config.model_copy(
            update={"api_key": settings.openrouter_api_key}
        )
        logger.info("upstream is OpenRouter at %s", upstream_config.base_url)

    client: OpenRouterClient = await supervisor.start(
        ActorSpec(
            "upstream",
            partial(
                hold_upstream_client,
                upstream_config,
                unix_socket=str(simulator_socket) if simulator_socket else None,
            ),
        )
    )

    catalog = Catalog(
        settings.models, unavailable_retry_after_s=settings.catalog.unavailable_retry_after_s
    )
    plan = SourcePlan(
        want_zdr=settings.models.zdr_only or settings.chat.zdr_enforce,
        zdr_required=settings.models.zdr_only,
        routed=tuple(pattern for rule in settings.chat.model_routing for pattern in rule.models),
        max_endpoint_lists=settings.catalog.endpoint_lists_max,
    )
    policy = CatalogPolicy(
        ttl_s=settings.catalog.ttl_s,
        retry_initial_s=settings.catalog.retry_initial_s,
        retry_max_s=settings.catalog.retry_max_s,
        warmup_s=settings.catalog.warmup_s,
    )
    # /models plus, per the plan, the ZDR list and routed models' provider lists; shared
    # across the fleet through Redis when configured, all of it, not just /models.
    fetch_models: FetchModels = partial(fetch_sources, client, plan)
    shared_catalog: SharedCatalogFetch | None = None
    if link is not None and settings.redis.shared_catalog:
        shared_catalog = SharedCatalogFetch(link, fetch_models, ttl_s=policy.ttl_s)
        fetch_models = shared_catalog
    await supervisor.start(
        ActorSpec(
            "catalog",
            partial(catalog_actor.run, allow_fault_injection=settings.fault_injection),
            args=(catalog, fetch_models, policy),
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
    fetcher = RemoteFetcher(
        settings.media.fetch_limits(), settings.media.url_policy(), SystemResolver()
    )
    await supervisor.start(ActorSpec("fetch", fetch_actor.run, args=(fetcher,), restart=restarts))
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
    cost_export: CostExport | None = None
    if link is not None and settings.redis.cost_snapshots:
        cost_inbox = open_cost_inbox()
        cost_export = await supervisor.start(
            ActorSpec(
                "cost_snapshots",
                partial(
                    cost_snapshots.run,
                    link=link,
                    ttl_s=settings.redis.cost_snapshot_ttl_s,
                    export=CostExport(cost_inbox),
                ),
                inbox=cost_inbox,
                layer="sink",
                restart=restarts,
            )
        )

    # File I/O (and maybe a first-start write) off the event loop.
    session_secret = await trio.to_thread.run_sync(
        load_session_secret, settings.session_secret, settings.var_dir
    )

    registry = CollectorRegistry(auto_describe=False)
    user_breaker = UserRequestBreaker(
        failures=settings.admission.user_breaker_failures,
        window_s=settings.admission.user_breaker_window_s,
    )
    telemetry = Telemetry(
        RequestMetrics(registry),
        log_buffer_lines=settings.logging.request_buffer_lines,
        user_breaker=user_breaker,
    )
    if log_sink.archive is not None:
        telemetry.archive = log_sink.handler.offer

    gateway = ChatGateway(
        catalog=catalog,
        sessions=sessions,
        admission=gate,
        client=client,
        options=settings.chat,
        streaming=streaming_options(settings),
        messages=settings.messages,
        tools=tool_runner,
        session_secret=session_secret,
        media=MediaIntake(settings.media, fetcher),
        persistence=persistence.persistence if persistence is not None else None,
        cost_export=cost_export,
        user_breaker=user_breaker,
        attach_request_log=settings.logging.attach_to_errors,
        telemetry=telemetry,
    )
    context = ServiceContext(
        settings=settings,
        supervisor=supervisor,
        upstream_mode="simulator" if settings.uses_simulator else "openrouter",
        # The simulator's socket is private: /status names it, not an address to connect to.
        upstream_base_url="built-in simulator (private socket)"
        if settings.uses_simulator
        else upstream_config.base_url,
        metrics_registry=registry,
    )
    parts = ServiceParts(
        gate=gate,
        client=client,
        tools=tool_runner,
        catalog=catalog,
        sessions=sessions,
        gateway=gateway,
        telemetry=telemetry,
        user_breaker=user_breaker,
        log_sink=log_sink,
        persistence_writer=persistence.writer.statistics if persistence is not None else None,
        persistence_ready=(lambda: persistence.storage.ready) if persistence is not None else None,
        write_behind=_write_behind_statistics(persistence),
        flusher=_flusher_statistics(persistence),
    )
    live = wire_operations(context, parts, database, reload_source=reload_source)
    if worker is not None and worker.control_fd is not None:
        # Settings changed while the service ran (set, reload) are the supervisor process's:
        # start with them, and forward SIGHUP so every worker reloads, not this one alone.
        live.apply(with_live_values(live.current, worker.live))
        context.control = ControlChannel.from_fd(worker.control_fd, peer="supervisor process")
        await supervisor.start(ActorSpec("reload", forward_reload_signal, args=(context.control,)))
    elif reload_source is not None:
        await supervisor.start(ActorSpec("reload", watch_reload_signal, args=(live,)))
    context.readiness_checks["catalog"] = partial(_catalog_ready, catalog)
    context.readiness_checks["storage"] = partial(
        _storage_ready, database, persistence.storage if persistence is not None else None
    )
    context.details["storage"] = {"backend": database.backend, "url": database.redacted_url}
    # Which process answered (with several workers, /status lists them all under "workers").
    context.details["worker"] = {
        "index": worker.index if worker else 0,
        "count": worker.count if worker else 1,
        "pid": os.getpid(),
    }
    if settings.redis_url:
        context.details["redis"] = {"url": redact_redis_url(settings.redis_url)}
    if cost_export is not None:
        context.details_providers["cost_snapshots"] = lambda: asdict(cost_export.stats)
    if shared_catalog is not None:
        context.details_providers["shared_catalog"] = lambda: asdict(shared_catalog.stats)
    context.details_providers["fetch"] = lambda: asdict(fetcher.statistics())
    if persistence is not None:
        context.details_providers["persistence"] = persistence.details
        _wire_dead_letter_metrics(context, persistence.dead_letters)

    byte_budget = ByteBudget(settings.admission.max_request_bytes_in_flight)
    context.details_providers["request_bytes"] = lambda: asdict(byte_budget.statistics())
    await supervisor.start(
        ActorSpec("memory_return", partial(memory_return.run, byte_budget), restart=restarts)
    )
    app = create_front_app(
        context,
        gateway=gateway,
        catalog=catalog,
        tcp_access=TcpAccess(token=api_token, loopback=is_loopback(settings.host)),
        byte_budget=byte_budget,
    )
    if worker is not None and context.control is not None:
        supervisor_link = SupervisorLink(
            context.control,
            WorkerDuties(
                apply_live=lambda values: (
                    live.apply(with_live_values(live.current, values)).applied
                ),
                refresh_catalog=catalog.request_refresh,
                status=partial(status_body, context),
                metric_families=partial(
                    own_metric_families, context, app.config["METRICS_REGISTRY"]
                ),
                stop=supervisor.request_shutdown,
            ),
            generation=worker.live_generation,
        )
        await supervisor.start(
            ActorSpec("supervisor_link", answer_supervisor, args=(supervisor_link,))
        )
    bound: list[str] = await supervisor.start(
        ActorSpec(
            "front",
            partial(
                serve_front,
                app,
                settings,
                supervisor.wait_shutdown_requested,
                inherited_fds=worker.fds if worker else (),
            ),
            stops_on_shutdown=True,
        )
    )
    logger.info("serving on %s", ", ".join(bound))
    # The shim needs the socket's absolute path; a relative var_dir would not resolve inside
    # Open WebUI (another working directory), so say the exact valve value.
    logger.info("shim valve: SIDECAR_ADDRESSES=unix:%s", settings.effective_socket_path.resolve())
    if worker is not None:
        worker.say_ready()
    return RunningService(
        context=context,
        gateway=gateway,
        catalog=catalog,
        bound=bound,
        byte_budget=byte_budget,
        simulator_socket=simulator_socket,
    )


def built_in_simulator(settings: Settings) -> tuple[SimulatorConfig, str]:
    """The built-in simulator's configuration and its fresh private key.

    Raises :class:`ConfigError` for a catalog file that cannot be read (the operator's
    mistake, exit 78, not a crash)."""
    simulator_key = f"sk-or-sim-{secrets.token_hex(16)}"
    simulator_config = SimulatorConfig(
        catalog_path=settings.simulator_catalog_path,
        api_keys=[simulator_key],
        first_token_delay_s=settings.simulator_first_token_delay_s,
        inter_delta_delay_s=settings.simulator_inter_delta_delay_s,
        retry_after_s=settings.simulator_retry_after_s,
        request_log_size=settings.simulator_request_log,
        request_log_max_body_bytes=SIMULATOR_LOG_MAX_BODY_BYTES,
        request_log_max_total_bytes=SIMULATOR_LOG_MAX_TOTAL_BYTES,
    )
    try:
        load_catalog(settings.simulator_catalog_path)
    except CatalogError as exc:
        raise ConfigError(
            f"configuration error: simulator_catalog_path: {exc}; fix the file or unset "
            "PIPE_SERVICE_SIMULATOR_CATALOG_PATH"
        ) from None
    return simulator_config, simulator_key


async def hold_upstream_client(
    config: UpstreamClientConfig,
    *,
    unix_socket: str | None = None,
    task_status: trio.TaskStatus[OpenRouterClient] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """Own the OpenRouter client's connection pools for the life of the process.

    ``started()`` returns the client. Resource handling: every pool is closed on the way out.
    Error handling: nothing to handle; requests report their own errors.
    """
    async with OpenRouterClient(config, unix_socket=unix_socket) as client:
        task_status.started(client)
        await trio.sleep_forever()
    raise AssertionError("unreachable")


async def _catalog_ready(catalog: Catalog) -> str | None:
    if catalog.loaded:
        return None
    error = catalog.last_error or "not fetched yet"
    return f"no model catalog yet ({error})"


async def _storage_ready(database: Database, storage: ArtifactStorage | None) -> str | None:
    with trio.move_on_after(5):
        await database.ping()
        if storage is not None and not storage.ready:
            return f"artifact storage not ready: {storage.last_error or 'starting'}"
        return None
    return "storage did not answer within 5 s"


@dataclass(frozen=True)
class RunningPersistence:
    """The persistence sinks' handles."""

    storage: ArtifactStorage
    writer: ArtifactWriter
    persistence: ArtifactPersistence
    cleanup: CleanupStatistics
    write_behind: WriteBehind | None = None
    flusher: FlusherStatistics | None = None
    dead_letters: DeadLetters | None = None
    dead_letter_cleanup: DeadLetterCleanupStatistics | None = None

    def details(self) -> dict[str, object]:
        codec = self.storage.codec
        redis_details: dict[str, object] | None = None
        if self.write_behind is not None and self.flusher is not None:
            redis_details = {
                **asdict(self.write_behind.statistics()),
                "flusher": self.flusher.as_dict(),
            }
        return {
            "write_behind": redis_details,
            "ready": self.storage.ready,
            "last_error": self.storage.last_error,
            "current_key_id": codec.current_key_id if codec is not None else None,
            "writer": asdict(self.writer.statistics()),
            "turns": asdict(self.persistence.statistics()),
            "cleanup": self.cleanup.as_dict(),
            "dead_letters": {
                "written_by_this_process": self.dead_letters.written,
                "cleanup": asdict(self.dead_letter_cleanup),
            }
            if self.dead_letters is not None and self.dead_letter_cleanup is not None
            else None,
        }


def _wire_dead_letter_metrics(context: ServiceContext, letters: DeadLetters | None) -> None:
    if letters is None or context.metrics_registry is None:
        return
    health = DeadLetterHealth()
    context.metrics_registry.register(DeadLetterCollector(health))
    context.scrape_probes.append(partial(probe_dead_letters, letters, health))


def _write_behind_statistics(
    persistence: RunningPersistence | None,
) -> Callable[[], WriteBehindStatistics] | None:
    if persistence is None or persistence.write_behind is None:
        return None
    return persistence.write_behind.statistics


def _flusher_statistics(
    persistence: RunningPersistence | None,
) -> Callable[[], FlusherStatistics] | None:
    if persistence is None or persistence.flusher is None:
        return None
    flusher = persistence.flusher
    return lambda: flusher


def refuse_fleet_without_shared_key(settings: Settings) -> None:
    """Sidecars sharing Redis share one database: a key generated per var dir would leave
    every sidecar unable to read what the others wrote, so refuse to start without one."""
    if settings.persistence.enabled and settings.persistence.encryption_key is None:
        raise ConfigError(
            "configuration error: persistence.encryption_key: redis_url is set (sidecars "
            "share one database) but no encryption key is: set "
            "PIPE_SERVICE_PERSISTENCE__ENCRYPTION_KEY to the same secret on every sidecar "
            "(or disable persistence)"
        )


async def hold_redis_link(
    settings: Settings, *, task_status: trio.TaskStatus[RedisLink] = trio.TASK_STATUS_IGNORED
) -> NoReturn:
    """Own the process's Redis client for the life of the process.

    ``started()`` returns the link without contacting Redis: a Redis that is down at start
    only means writes go to the database until it answers. Resource handling: the client's
    connection pool is closed on the way out. Error handling: none needed; every user of the
    link handles its own Redis errors.
    """
    assert settings.redis_url is not None
    link = RedisLink.open(
        settings.redis_url,
        key_prefix=settings.redis.key_prefix,
        pool_size=settings.redis.pool_size,
        op_timeout_s=settings.redis.operation_timeout_s,
    )
    try:
        task_status.started(link)
        await trio.sleep_forever()
    finally:
        link.close()
    raise AssertionError("unreachable")


async def start_persistence(
    supervisor: Supervisor,
    settings: Settings,
    database: Database,
    restarts: RestartPolicy,
    link: RedisLink | None = None,
) -> RunningPersistence | None:
    """Start the storage sinks (bootstrap, db_writer, redis_flusher, cleanup) before any
    producer, so they stop last and the writer drains what the turns handed it."""
    options = settings.persistence
    if not options.enabled:
        logger.info("persistence is off: reasoning and tool items are not stored")
        return None
    storage = ArtifactStorage(database)
    await supervisor.start(
        ActorSpec(
            "storage",
            partial(storage_bootstrap.run, storage, options, settings.var_dir, BootstrapPolicy()),
            layer="sink",
        )
    )
    inbox = open_writer_inbox(options.writer_inbox)
    writer = ArtifactWriter(inbox)
    policy = WriterPolicy(
        max_batch=options.writer_max_batch, max_delay_s=options.writer_max_delay_s
    )
    behind: WriteBehind | None = None
    nudges = open_nudge_inbox()
    if link is not None and settings.redis.write_behind:
        behind = WriteBehind(link, settings.redis, flusher_id=new_flusher_id(), nudges=nudges)
    await supervisor.start(
        ActorSpec(
            "db_writer",
            partial(db_writer.run, write_behind=behind),
            args=(writer, storage, policy),
            inbox=inbox,
            layer="sink",
            restart=restarts,
        )
    )
    letters: DeadLetters = await supervisor.start(
        ActorSpec(
            "dead_letters", partial(hold_store, settings.effective_dead_letter_url), layer="sink"
        )
    )
    flusher: FlusherStatistics | None = None
    if behind is not None:
        redis_options = settings.redis
        flush_policy = FlushPolicy(
            interval_s=redis_options.flush_interval_s,
            batch=redis_options.flush_batch,
            failure_limit=redis_options.flush_failure_limit,
            backoff_max_s=redis_options.flush_backoff_max_s,
            lock_ttl_s=redis_options.lock_ttl_s,
            dead_letter_after=settings.dead_letters.flush_attempts,
        )
        flusher = await supervisor.start(
            ActorSpec(
                "redis_flusher",
                partial(redis_flusher.run, dead_letters=letters),
                args=(behind, storage, flush_policy, FlusherStatistics()),
                inbox=nudges,
                layer="sink",
                restart=restarts,
            )
        )
    cleanup = CleanupStatistics()
    cleanup_policy = CleanupPolicy(
        retention_days=options.retention_days,
        interval_s=options.cleanup_interval_s,
        batch=options.cleanup_batch,
    )
    await supervisor.start(
        ActorSpec(
            "cleanup",
            partial(cleanup_actor.run, storage, cleanup_policy, cleanup),
            layer="sink",
            restart=restarts,
        )
    )
    bounds = settings.dead_letters
    letter_cleanup = DeadLetterCleanupStatistics()
    await supervisor.start(
        ActorSpec(
            "dead_letter_cleanup",
            partial(
                dead_letter_cleanup,
                letters,
                DeadLetterBounds(
                    retention_days=bounds.retention_days,
                    max_letters=bounds.max_letters,
                    interval_s=bounds.cleanup_interval_s,
                ),
                letter_cleanup,
            ),
            layer="sink",
            restart=restarts,
        )
    )
    persistence = ArtifactPersistence(
        writer=writer, storage=storage, settings=options, write_behind=behind
    )
    return RunningPersistence(
        storage, writer, persistence, cleanup, behind, flusher, letters, letter_cleanup
    )
