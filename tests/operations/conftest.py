"""A whole sidecar whose logs go through the real log sink into a list, with reload wired.

Like ``tests.service.conftest.sidecar`` (the service exactly as ``pipe-service serve``
assembles it, simulator upstream, real sockets, real SQLite), plus what operations need: the
sink handler installed on the root logger as the CLI does (restored afterwards, so pytest's own
log capture is untouched for other tests), a writer that keeps every written line, and a
``reload_source`` reading a TOML file the test can rewrite.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from actors import open_supervisor
from pipe_service.config import Settings, load_settings
from pipe_service.logsink.handler import SinkHandler, install_sink_handler
from pipe_service.service import open_database, start_service
from tests.service.conftest import TEST_API_TOKEN, Sidecar, make_settings

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class ListWriter:
    """Keeps written lines; ``gate`` (when set) blocks writes until released (a stuck stderr)."""

    lines: list[str] = field(default_factory=list)
    gate: threading.Event | None = None

    def write_lines(self, lines: Sequence[str]) -> None:
        if self.gate is not None:
            self.gate.wait(30)
        self.lines.extend(lines)


@dataclass
class OpsSidecar(Sidecar):
    writer: ListWriter
    handler: SinkHandler
    config_path: Path

    async def scrape(self) -> Samples:
        async with self.uds_client() as client:
            response = await client.get("/metrics")
        assert response.status_code == 200
        return parse_samples(response.text)

    async def admin_set(self, key: str, value: str) -> httpx.Response:
        async with self.uds_client() as client:
            return await client.post("/admin/settings", json={"key": key, "value": value})


def parse_samples(text: str) -> Samples:
    """Every sample of a Prometheus text exposition, parsed by prometheus_client's parser."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


@pytest.fixture
def installed_sink() -> Iterator[SinkHandler]:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    handler = install_sink_handler("INFO", "json")
    try:
        yield handler
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


@pytest.fixture
def ops_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def log_writer() -> ListWriter:
    return ListWriter()


@pytest.fixture
async def ops_sidecar(
    tmp_path: Path,
    ops_overrides: dict[str, Any],
    installed_sink: SinkHandler,
    log_writer: ListWriter,
) -> AsyncIterator[OpsSidecar]:
    settings = make_settings(tmp_path, **ops_overrides)
    config_path = tmp_path / "pipe-service.toml"
    config_path.write_text(_toml(settings))

    def reload_source() -> Settings:
        return load_settings({}, config_path=config_path)[0]

    async with open_database(settings) as database, open_supervisor(grace_s=5) as supervisor:
        running = await start_service(
            supervisor, settings, database, reload_source=reload_source, log_writer=log_writer
        )
        yield OpsSidecar(settings, running, supervisor, log_writer, installed_sink, config_path)
        supervisor.request_shutdown("test finished")


def _toml(settings: Settings) -> str:
    """The test's settings as a TOML file (top-level scalars and [sections] it sets)."""
    lines = [
        f'var_dir = "{settings.var_dir}"',
        f"port = {settings.port}",
        f'api_token = "{TEST_API_TOKEN}"',
        f"simulator_request_log = {settings.simulator_request_log}",
        'log_format = "text"',
        f"simulator_retry_after_s = {settings.simulator_retry_after_s}",
        f"simulator_first_token_delay_s = {settings.simulator_first_token_delay_s}",
        f"simulator_inter_delta_delay_s = {settings.simulator_inter_delta_delay_s}",
        "shutdown_grace_s = 5",
        "graceful_timeout_s = 2",
        "[upstream]",
        "retry_base_backoff_s = 0",
        "retry_max_backoff_s = 0",
        "retry_max_attempts = 3",
        "[admission]",
        f"slots = {settings.admission.slots}",
        f"queue = {settings.admission.queue}",
        f"user_breaker_failures = {settings.admission.user_breaker_failures}",
    ]
    return "\n".join(lines) + "\n"
