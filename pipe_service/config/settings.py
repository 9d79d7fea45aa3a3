"""The settings model: every process-level setting, typed, bounded and documented.

Each field maps to the environment variable ``PIPE_SERVICE_<FIELD NAME IN UPPER CASE>`` and to the
key of the same name in the optional TOML file. A few conventional variables are read as they are
(see ``CONVENTIONAL_ENV``). The field descriptions are the configuration reference: ``pipe-service
config --reference`` renders them, and a test keeps ``docs/configuration.md`` in step with them.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from pipe_service.catalog.filters import CatalogFilterOptions
from pipe_service.catalog.owui_metadata import ModelEntrySettings
from pipe_service.config.dead_letters import DeadLetterSettings
from pipe_service.config.error_templates import (
    FAILURE_KINDS,
    TEMPLATE_PLACEHOLDERS,
    FailureKind,
    validate_error_template,
)
from pipe_service.config.persistence import PersistenceSettings
from pipe_service.config.redis import RedisSettings
from pipe_service.media.settings import MediaSettings
from pipe_service.openrouter.client_config import UpstreamClientConfig
from pipe_service.tools.settings import ToolSettings
from pipe_service.transform.options import TransformOptions

ENV_PREFIX = "PIPE_SERVICE_"

# Conventional variable names that other tools already use; read without the prefix.
CONVENTIONAL_ENV: dict[str, str] = {
    "OPENROUTER_API_KEY": "openrouter_api_key",
    "DATABASE_URL": "database_url",
    "REDIS_URL": "redis_url",
}

SECTION_SEPARATOR = "__"
MAX_TEMPLATE_CHARS = 4000

MIN_API_TOKEN_CHARS = 16
MAX_UNIX_SOCKET_PATH_BYTES = 107  # sun_path is 108 bytes on Linux, one for the final NUL


class CatalogSettings(BaseModel):
    """How the model catalog is kept fresh."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ttl_s: float = Field(600.0, ge=10, le=86400, description="Refresh the catalog this often.")
    retry_initial_s: float = Field(
        2.0, gt=0, le=600, description="First retry delay after a failed refresh; doubles."
    )
    retry_max_s: float = Field(300.0, gt=0, le=86400, description="Upper bound of the retry delay.")
    warmup_s: float = Field(
        10.0, gt=0, le=300, description="Start-up waits this long for the first catalog at most."
    )
    endpoint_lists_max: int = Field(
        32,
        ge=0,
        le=1000,
        description="Models covered by `chat.model_routing` whose provider list "
        "(/models/{slug}/endpoints) is fetched per refresh, at most.",
    )
    unavailable_retry_after_s: int = Field(
        5,
        ge=1,
        le=600,
        description="`Retry-After` hint sent with a chat that arrives before the first catalog "
        "has loaded (OpenAI API: 503 `catalog_unavailable`; shim: error `catalog_unavailable`).",
    )


class AdmissionSettings(BaseModel):
    """The admission queue in front of the concurrency slots."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slots: int = Field(64, ge=1, le=10000, description="Chat requests served at the same time.")
    queue: int = Field(
        256, ge=1, le=100000, description="Requests waiting for a slot; beyond it: busy (503)."
    )
    retry_after_s: int = Field(
        2, ge=1, le=600, description="`Retry-After` hint sent with a busy answer."
    )
    max_request_bytes_in_flight: int = Field(
        256 * 1024 * 1024,
        ge=1024 * 1024,
        le=64 * 1024 * 1024 * 1024,
        description="Request bytes (shim request frames, OpenAI chat bodies) held at once; a "
        "request that does not fit is answered busy (503) at once. A request is at most 32 MiB, "
        "so below that the largest requests are always refused.",
    )
    user_breaker_failures: int = Field(
        10,
        ge=0,
        le=10000,
        description="A user whose requests failed this many times within "
        "`user_breaker_window_s` is told to slow down (error `slow_down`, HTTP 429) for that "
        "window; 0 turns the per-user request breaker off.",
    )
    user_breaker_window_s: float = Field(
        60.0,
        gt=0,
        le=86400,
        description="Window of the per-user request breaker, and how long it stays open.",
    )


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class LoggingSettings(BaseModel):
    """The log sink: overload, per-user diagnosis, per-request buffers and archives."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    inbox_size: int = Field(
        8192,
        ge=16,
        le=1_000_000,
        description="Log records queued for the writer. When it is full, new records are "
        "dropped and counted (`pipe_service_log_records_dropped_total`): a chat never waits "
        "for logging.",
    )
    user_levels: dict[str, LogLevel] = Field(
        default_factory=dict,
        description="Log level per Open WebUI user id, to diagnose one user's requests without "
        'raising the global level, e.g. `{"6f1c…": "DEBUG"}`. Changeable at run time.',
    )
    request_buffer_lines: int = Field(
        50,
        ge=1,
        le=1000,
        description="Log lines kept per request (its ring buffer), for `attach_to_errors` and "
        "archives.",
    )
    attach_to_errors: bool = Field(
        False,
        description="Append the request's recent log lines (collapsed) to an error the user "
        "sees. Lines hold ids, timings and outcomes, never payloads or keys.",
    )
    archive_dir: Path | None = Field(
        None,
        description="Write each request's log lines, LZ4-compressed and Fernet-encrypted, to "
        "this directory (one file per request, a folder per day); unset = no archives. "
        "Needs `archive_key`.",
    )
    archive_key: SecretStr | None = Field(
        None,
        description="Fernet key of the log archives (`python -c 'from cryptography.fernet "
        "import Fernet; print(Fernet.generate_key().decode())'`).",
        json_schema_extra={"secret": True},
    )
    archive_retention_days: int = Field(
        14, ge=1, le=3650, description="Archive folders older than this many days are deleted."
    )

    @model_validator(mode="after")
    def _archive_needs_key(self) -> LoggingSettings:
        if self.archive_dir is not None and self.archive_key is None:
            raise ValueError(
                "logging.archive_dir is set but logging.archive_key is not: set "
                "PIPE_SERVICE_LOGGING__ARCHIVE_KEY to a Fernet key, or unset archive_dir"
            )
        if self.archive_key is not None:
            from cryptography.fernet import Fernet

            try:
                Fernet(self.archive_key.get_secret_value().encode())
            except ValueError:
                raise ValueError(
                    "logging.archive_key is not a Fernet key (32 url-safe base64 bytes); "
                    "generate one with cryptography's Fernet.generate_key()"
                ) from None
        return self


class MessageSettings(BaseModel):
    """How errors are worded for users (Markdown templates with named placeholders)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    error_template: str | None = Field(
        None,
        max_length=4000,
        description="Template of an error shown instead of an answer; placeholders: "
        + ", ".join(f"`{{{name}}}`" for name in sorted(TEMPLATE_PLACEHOLDERS))
        + ". Default: a heading, the explanation, the retry hint and the error id.",
    )
    interrupted_template: str | None = Field(
        None,
        max_length=4000,
        description="Template of the notice appended after partial text when an answer fails "
        "mid-stream; same placeholders. Default: an 'interrupted' line with the error id.",
    )

    templates: dict[FailureKind, str] = Field(
        default_factory=dict,
        description="Templates per failure kind, each over `error_template` for that kind ("
        + ", ".join(f"`{kind}`" for kind in FAILURE_KINDS)
        + "; `interrupted` is used after partial text); same placeholders. Example: "
        '`templates = {rate_limit = "Busy: retry in {retry_after}s. {support}"}`.',
    )
    support_contact: str | None = Field(
        None,
        max_length=500,
        description="Line that fills `{support}` in every error message (e.g. 'Need help? "
        "Ask #ai-help or it@example.com'); Markdown. Default: empty.",
    )

    @field_validator("error_template", "interrupted_template")
    @classmethod
    def _renders(cls, template: str | None) -> str | None:
        if template is not None:
            validate_error_template(template)
        return template

    @field_validator("templates")
    @classmethod
    def _each_renders(cls, templates: dict[str, str]) -> dict[str, str]:
        for kind, template in templates.items():
            if len(template) > MAX_TEMPLATE_CHARS:
                raise ValueError(f"templates.{kind}: longer than {MAX_TEMPLATE_CHARS} characters")
            try:
                validate_error_template(template)
            except ValueError as exc:
                raise ValueError(f"templates.{kind}: {exc}") from None
        return templates

    def template_for(self, kind: FailureKind) -> str | None:
        """The template for ``kind``: its own, else the general one for its kind of notice."""
        general = self.interrupted_template if kind == "interrupted" else self.error_template
        return self.templates.get(kind) or general


class StreamingSettings(BaseModel):
    """Delta coalescing between the upstream stream and the client, and what a silent
    provider looks like to the user (the stall limit itself is ``upstream.stall_timeout_s``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    coalescing: Literal["adaptive", "window"] = Field(
        "adaptive",
        description="adaptive: a delta goes out at once while the client's writer is idle and "
        "deltas merge while it is busy (no added wait, fewer frames under load); window: hold "
        "deltas up to flush_bytes / flush_interval_s (fewer frames at any load).",
    )
    flush_bytes: int = Field(
        256,
        ge=1,
        le=65536,
        description="window coalescing: flush buffered text once it reaches this many bytes.",
    )
    flush_interval_s: float = Field(
        0.025,
        ge=0,
        le=5,
        description="window coalescing: flush buffered text after this long; 0 = every delta.",
    )
    waiting_status_after_s: float = Field(
        5.0,
        gt=0,
        le=600,
        description=(
            "After this long without output from the provider, show the status line "
            '"Waiting for the provider (N s)…".'
        ),
    )
    waiting_status_every_s: float = Field(
        5.0, gt=0, le=600, description="Refresh that status line this often while it lasts."
    )
    max_event_bytes: int = Field(
        8 * 1024 * 1024,
        ge=64 * 1024,
        le=256 * 1024 * 1024,
        description="Largest single upstream SSE event accepted; a bigger one fails the stream "
        "instead of growing memory without bound.",
    )
    raw_outbox_size: int = Field(
        64,
        ge=1,
        le=65536,
        description="Events buffered between the upstream translator and the coalescer.",
    )
    turn_outbox_size: int = Field(
        32,
        ge=1,
        le=65536,
        description="Coalesced events buffered between a turn and its renderer; a slow client "
        "back-pressures the upstream stream once it is full.",
    )
    pipe_outbox_size: int = Field(
        64,
        ge=1,
        le=65536,
        description="Shim-protocol frames buffered between a request's renderer and its socket.",
    )


class Settings(BaseModel):
    """The effective configuration of one sidecar process."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    # -- where it listens ------------------------------------------------------------------
    var_dir: Path = Field(
        Path("var"),
        description="Directory for the socket, the SQLite database and other runtime files.",
    )
    socket_path: Path | None = Field(
        None,
        description="Unix socket the shim connects to (file mode 0660). Default: "
        "`<var_dir>/pipe-service.sock`.",
    )
    host: str = Field(
        "127.0.0.1",
        description="TCP address for the HTTP front. Anything but loopback requires `api_token`.",
    )
    port: int = Field(
        8765,
        ge=0,
        le=65535,
        description="TCP port for the HTTP front; 0 disables TCP (Unix socket only).",
    )
    api_token: SecretStr | None = Field(
        None,
        description="Bearer token required on every TCP route (except `/healthz` on a loopback "
        f"bind); at least {MIN_API_TOKEN_CHARS} characters, no spaces. Unset with TCP on: one is "
        "generated into `<var_dir>/api-token` (mode 0600) on first start and printed once. The "
        "Unix socket is protected by its file mode instead.",
    )
    session_secret: SecretStr | None = Field(
        None,
        min_length=16,
        description="Key of the per-chat `session_id` (HMAC of the chat id). Default: a random "
        "secret generated into `<var_dir>/session-secret` (mode 0600) on first start. Set one "
        "value on every host when several sidecars serve the same chats.",
        json_schema_extra={"secret": True},
    )
    backlog: int = Field(1024, ge=16, le=65535, description="Listen backlog of each socket.")
    workers: int = Field(
        0,
        ge=0,
        le=256,
        description="Worker processes `pipe-service serve` runs under one supervisor process, "
        "sharing the Unix socket and TCP listeners: 0 (the default) = one per CPU this process "
        "may run on, 1 = a single process (no supervisor). Admission slots, the queue and the "
        "request byte budget apply per worker; `set`, reload and catalog refresh reach every "
        "worker. `serve --workers N` overrides it.",
    )
    graceful_timeout_s: float = Field(
        10.0,
        gt=0,
        le=600,
        description="How long open HTTP connections may finish after shutdown starts.",
    )
    send_stall_s: float = Field(
        15.0,
        gt=0,
        le=600,
        description="A client (shim, SSE stream) that has not taken a write for this long "
        "stopped reading: its connection is closed and its request cancelled.",
    )
    pipe_handshake_timeout_s: float = Field(
        10.0,
        gt=0,
        le=600,
        description="A shim connection must send each handshake frame (hello, then request) "
        "within this long of the last one, or it gets a `timeout` error.",
    )
    shutdown_drain_fraction: float = Field(
        0.8,
        ge=0.1,
        le=0.95,
        description="Share of `graceful_timeout_s` that running chats may use to finish when "
        'the sidecar stops; then they are cut with a "restarting" notice, which the rest of '
        "the timeout leaves time to deliver.",
    )
    shutdown_grace_s: float = Field(
        15.0,
        gt=0,
        le=600,
        description="Deadline for the whole graceful stop: producers stop, sinks drain, then "
        "whatever is left is cancelled. Should exceed `graceful_timeout_s`.",
    )

    # -- upstream ----------------------------------------------------------------------------
    openrouter_api_key: SecretStr | None = Field(
        None,
        description="OpenRouter API key (also read from `OPENROUTER_API_KEY`). Without it, and "
        "with `upstream_mode=auto`, the built-in OpenRouter simulator is the upstream.",
        json_schema_extra={"secret": True},
    )
    upstream_mode: Literal["auto", "openrouter", "simulator"] = Field(
        "auto",
        description="`auto`: OpenRouter when a key is set, else the in-process simulator. "
        "`openrouter`: always the real API (a key is required). `simulator`: always the simulator.",
    )
    upstream: UpstreamClientConfig = Field(
        default_factory=UpstreamClientConfig,
        description="The OpenRouter client: base URL, attribution, timeouts, pools, retries.",
    )
    catalog: CatalogSettings = Field(
        default_factory=CatalogSettings, description="Catalog refresh."
    )
    models: CatalogFilterOptions = Field(
        default_factory=CatalogFilterOptions, description="Which catalog models are offered."
    )
    model_entries: ModelEntrySettings = Field(
        default_factory=ModelEntrySettings,
        description="What the shim writes into Open WebUI's model entries (icons).",
    )
    chat: TransformOptions = Field(
        default_factory=TransformOptions,
        description="Request defaults: reasoning, tools, identifiers, plugins, routing.",
    )
    admission: AdmissionSettings = Field(
        default_factory=AdmissionSettings, description="Concurrency slots and the queue."
    )
    streaming: StreamingSettings = Field(
        default_factory=StreamingSettings,
        description="Delta coalescing, buffer sizes, and the waiting status of a silent provider.",
    )
    tools: ToolSettings = Field(
        default_factory=ToolSettings,
        description="Tool calling: loop limit, timeouts, concurrency, retries, breakers.",
    )
    messages: MessageSettings = Field(
        default_factory=MessageSettings, description="Wording of errors shown to users."
    )
    media: MediaSettings = Field(
        default_factory=MediaSettings,
        description="Images, files, audio and video: caps, inline validation, the SSRF-guarded "
        "remote fetcher, generated-file storage.",
    )
    fault_injection: bool = Field(
        False,
        description="Expose `POST /admin/fault/<actor>` to crash an actor on purpose (drills, "
        "tests). Never enable in production.",
    )

    # -- embedded simulator -------------------------------------------------------------------
    simulator_catalog_path: Path | None = Field(
        None,
        description="Catalog JSON the in-process simulator serves at /models (a bare array or "
        '`{"data": [...]}`); default: its own `sim/*` models.',
    )
    simulator_first_token_delay_s: float = Field(
        0.0, ge=0, le=60, description="Simulator: delay before the first output event."
    )
    simulator_inter_delta_delay_s: float = Field(
        0.0, ge=0, le=10, description="Simulator: delay between text deltas."
    )

    simulator_retry_after_s: int = Field(
        2, ge=0, le=3600, description="Simulator: `Retry-After` seconds on its 429/503 answers."
    )
    simulator_request_log: int = Field(
        0,
        ge=0,
        le=10_000,
        description="Simulator: requests it keeps for `GET /_sim/requests` (on its private "
        "socket); 0 = no log. Bodies over 1 MiB are kept as their size only.",
    )

    # -- storage ------------------------------------------------------------------------------
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL (also read from `DATABASE_URL`). Default: SQLite at "
        "`<var_dir>/pipe-service.db`. PostgreSQL URLs use the psycopg 3 driver.",
    )
    db_pool_size: int = Field(
        5, ge=1, le=100, description="Database connections (and worker threads) per process."
    )
    persistence: PersistenceSettings = Field(
        default_factory=PersistenceSettings,
        description="Stored reasoning and tool items: encryption, retention, the writer.",
    )
    redis_url: str | None = Field(
        None,
        description="Redis URL (also read from `REDIS_URL`) for write-behind when several "
        "sidecars share one database; unset = no Redis.",
    )
    redis: RedisSettings = Field(
        default_factory=RedisSettings,
        description="Redis write-behind, the shared catalog refresh and cost snapshots.",
    )
    dead_letters: DeadLetterSettings = Field(
        default_factory=DeadLetterSettings,
        description="Artifacts that could not be persisted: where they wait, for how long.",
    )

    # -- supervision --------------------------------------------------------------------------
    restart_max: int = Field(
        5, ge=0, le=1000, description="Restarts of one actor allowed within `restart_window_s`."
    )
    restart_window_s: float = Field(
        60.0, gt=0, le=86400, description="Window for `restart_max`; past it the process stops."
    )
    restart_backoff_initial_s: float = Field(
        0.1, gt=0, le=60, description="First restart delay; doubles per restart."
    )
    restart_backoff_max_s: float = Field(
        5.0, gt=0, le=600, description="Upper bound of the restart delay."
    )

    # -- logging ------------------------------------------------------------------------------
    log_level: LogLevel = Field(
        "INFO", description="Minimum level of log records. Changeable at run time."
    )
    log_format: Literal["auto", "json", "text"] = Field(
        "auto",
        description="`json`: one JSON object per line; `text`: human-readable lines; `auto`: "
        "text when stderr is a terminal, else JSON.",
    )
    logging: LoggingSettings = Field(
        default_factory=LoggingSettings,
        description="The log sink: overload, per-user levels, request buffers, archives.",
    )

    @field_validator("api_token")
    @classmethod
    def _token_is_strong_enough(cls, token: SecretStr | None) -> SecretStr | None:
        if token is None:
            return None
        text = token.get_secret_value()
        if len(text) < MIN_API_TOKEN_CHARS or any(char.isspace() for char in text):
            raise ValueError(
                f"api_token must be at least {MIN_API_TOKEN_CHARS} characters without spaces; "
                "generate one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'` "
                "or unset it to have one generated into the var dir"
            )
        return token

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if self.port and not is_loopback(self.host) and self.api_token is None:
            raise ValueError(
                f"host {self.host!r} is not a loopback address: set api_token "
                "(PIPE_SERVICE_API_TOKEN) or bind 127.0.0.1"
            )
        if self.upstream_mode == "openrouter" and self.openrouter_api_key is None:
            raise ValueError(
                "upstream_mode is 'openrouter' but no API key is set: set OPENROUTER_API_KEY "
                "or use upstream_mode 'auto'/'simulator'"
            )
        if self.upstream.api_key is not None:
            raise ValueError(
                "upstream.api_key is not read from configuration: set OPENROUTER_API_KEY"
            )
        sockets = [("socket_path", self.effective_socket_path)]
        if self.uses_simulator:
            sockets.append(("var_dir", self.simulator_socket_path))
        for field, path in sockets:
            size = len(os.fsencode(path))
            if size > MAX_UNIX_SOCKET_PATH_BYTES:
                raise ValueError(
                    f"{field}: the Unix socket path {str(path)[:60]!r}… is {size} bytes, over the "
                    f"{MAX_UNIX_SOCKET_PATH_BYTES} a socket path may have: set a shorter "
                    f"{field} (PIPE_SERVICE_{field.upper()})"
                )
        if self.restart_backoff_initial_s > self.restart_backoff_max_s:
            raise ValueError("restart_backoff_initial_s must not exceed restart_backoff_max_s")
        return self

    # -- derived values -----------------------------------------------------------------------
    @property
    def effective_socket_path(self) -> Path:
        return (
            self.socket_path if self.socket_path is not None else self.var_dir / "pipe-service.sock"
        )

    @property
    def simulator_socket_path(self) -> Path:
        """The built-in simulator's private socket (mode 0600): only this process reaches it."""
        return self.var_dir / "simulator.sock"

    @property
    def api_token_path(self) -> Path:
        """Where a generated TCP token is kept when ``api_token`` is unset."""
        return self.var_dir / "api-token"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'pipe-service.db').as_posix()}"

    @property
    def effective_dead_letter_url(self) -> str:
        return self.dead_letters.url_for(self.var_dir)

    @property
    def uses_simulator(self) -> bool:
        if self.upstream_mode == "simulator":
            return True
        return self.upstream_mode == "auto" and self.openrouter_api_key is None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
