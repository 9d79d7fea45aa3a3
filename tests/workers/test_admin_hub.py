"""The supervisor process's admin hub with two workers' links: a change is validated once,
reaches every worker in order, and the answer says what each worker did; a worker that is
starting, down or silent is named, and a restarted one starts from the settings in force.

The workers here are the real worker side (:class:`SupervisorLink` applying to a real
:class:`LiveSettings` and a real catalog) over in-memory streams, in this process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
import trio
import trio.testing
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from pipe_service.catalog.actor import Catalog
from pipe_service.config import Settings
from pipe_service.config.live import LiveSettings
from pipe_service.workers.admin_hub import ANSWER_LIMIT_S, AdminHub
from pipe_service.workers.control import ControlChannel
from pipe_service.workers.fleet_metrics import EncodedFamily, encode_families, render_fleet
from pipe_service.workers.live_values import with_live_values
from pipe_service.workers.supervisor_link import SupervisorLink, WorkerDuties, answer_supervisor


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings.model_validate({"var_dir": tmp_path, **values})


@dataclass
class Worker:
    """One worker's side: its live settings, catalog and metrics, answering through a link."""

    index: int
    live: LiveSettings
    catalog: Catalog
    registry: CollectorRegistry
    to_supervisor: ControlChannel
    link: SupervisorLink

    @property
    def slots(self) -> int:
        return self.live.current.admission.slots


def _worker(index: int, settings: Settings, stream: trio.abc.Stream) -> Worker:
    live = LiveSettings(settings)
    catalog = Catalog(settings.models)
    registry = CollectorRegistry(auto_describe=False)
    Counter("pipe_service_requests", "Requests.", registry=registry).inc(index + 1)
    channel = ControlChannel(stream, peer="supervisor process")

    async def families() -> list[EncodedFamily]:
        return encode_families(registry.collect())

    duties = WorkerDuties(
        apply_live=lambda values: live.apply(with_live_values(live.current, values)).applied,
        refresh_catalog=catalog.request_refresh,
        status=lambda: {"admission": {"slots": live.current.admission.slots}},
        metric_families=families,
        stop=lambda reason: None,
    )
    link = SupervisorLink(channel, duties, generation=0)
    return Worker(index, live, catalog, registry, channel, link)


@asynccontextmanager
async def fleet(
    settings: Settings,
    *,
    count: int = 2,
    silent: frozenset[int] = frozenset(),
    configuration_file: list[Settings] | None = None,
) -> AsyncIterator[tuple[AdminHub, list[Worker]]]:
    """A hub and ``count`` serving workers; workers in ``silent`` never read their channel.
    A reload reads the last of ``configuration_file``."""
    read_again = configuration_file or [settings]
    hub = AdminHub(LiveSettings(settings, reload_source=lambda: read_again[-1]), count)
    workers = []
    async with trio.open_nursery() as nursery:
        for index in range(count):
            ours, theirs = trio.testing.memory_stream_pair()
            channel = ControlChannel(ours, peer=f"worker {index}")
            hub.attach(index, channel)
            await nursery.start(channel.serve, partial(hub.answer, index))
            worker = _worker(index, settings, theirs)
            if index not in silent:
                await nursery.start(answer_supervisor, worker.link)
            hub.mark_serving(index, channel, pid=1000 + index)
            workers.append(worker)
        yield hub, workers
        nursery.cancel_scope.cancel()


async def test_a_set_reaches_every_worker_and_the_answer_says_so(tmp_path: Path) -> None:
    with trio.fail_after(5):
        async with fleet(_settings(tmp_path)) as (hub, workers):
            answer = await hub.set_value("admission.slots", "8")

    assert answer["status"] == 200
    assert answer["body"]["applied"] == ["admission.slots"]
    assert answer["body"]["workers"] == [
        {"index": 0, "pid": 1000, "outcome": "applied"},
        {"index": 1, "pid": 1001, "outcome": "applied"},
    ]
    assert [worker.slots for worker in workers] == [8, 8]
    assert hub.live.current.admission.slots == 8
    assert [worker.link.generation for worker in workers] == [1, 1]


async def test_a_set_forwarded_by_a_worker_is_applied_to_that_worker_too(tmp_path: Path) -> None:
    """The worker that received the route waits for its call while the hub calls it back."""
    with trio.fail_after(5):
        async with fleet(_settings(tmp_path)) as (_, workers):
            reply = await workers[1].to_supervisor.call(
                {"op": "set", "key": "tools.retries", "value": "4"}
            )

    assert reply["status"] == 200
    assert [worker.live.current.tools.retries for worker in workers] == [4, 4]


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("admission.slots", "many", "admission.slots"),
        ("admission.slotz", "8", "unknown setting"),
        ("port", "9000", "needs restart"),
    ],
)
async def test_a_refused_set_changes_nothing_anywhere(
    tmp_path: Path, key: str, value: str, problem: str
) -> None:
    settings = _settings(tmp_path)
    with trio.fail_after(5):
        async with fleet(settings) as (hub, workers):
            answer = await hub.set_value(key, value)

    assert answer["status"] == 400
    assert problem in answer["body"]["error"]
    assert hub.generation == 0
    assert hub.live.current == settings
    assert [worker.live.current for worker in workers] == [settings, settings]


async def test_a_worker_that_does_not_answer_is_named_and_the_others_apply(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with fleet(_settings(tmp_path), silent=frozenset({1})) as (hub, workers):
        began = trio.current_time()
        answer = await hub.set_value("admission.slots", "8")
        elapsed = trio.current_time() - began

    assert elapsed == ANSWER_LIMIT_S  # every worker is asked at once, each bounded
    assert answer["status"] == 503
    assert answer["body"]["error"] == "not confirmed by worker 1: no answer within 5 s"
    assert [o["outcome"] for o in answer["body"]["workers"]] == ["applied", "failed"]
    assert workers[0].slots == 8
    assert hub.live.current.admission.slots == 8  # in force: a restarted worker gets it


async def test_a_starting_worker_reads_the_change_before_it_serves(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            hub = AdminHub(LiveSettings(settings), 1)
            ours, theirs = trio.testing.memory_stream_pair()
            channel = ControlChannel(ours, peer="worker 0")
            generation, values = hub.snapshot()
            hub.attach(0, channel)  # spawned, not serving yet
            await nursery.start(channel.serve, partial(hub.answer, 0))
            answer = await hub.set_value("admission.slots", "8")
            # The worker starts from its handoff, then reads what its channel holds.
            worker = _worker(0, with_live_values(settings, values), theirs)
            worker.link.generation = generation
            await nursery.start(answer_supervisor, worker.link)
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()

    assert answer["status"] == 200
    assert answer["body"]["workers"][0]["outcome"] == "starting"
    assert worker.slots == 8


async def test_a_worker_being_restarted_starts_from_the_settings_in_force(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with trio.fail_after(5):
        async with fleet(settings) as (hub, workers):
            hub.detach(1, hub.links[1].channel)  # type: ignore[arg-type]
            answer = await hub.set_value("admission.slots", "8")
    generation, values = hub.snapshot()
    restarted = with_live_values(settings, values)  # what the new worker's handoff carries

    assert answer["status"] == 200
    assert [o["outcome"] for o in answer["body"]["workers"]] == ["applied", "restarting"]
    assert workers[1].slots == settings.admission.slots  # the dead one never heard
    assert (generation, restarted.admission.slots) == (1, 8)
    assert restarted.var_dir == settings.var_dir  # only the live part comes from the hub


async def test_a_generation_older_than_the_workers_is_ignored(tmp_path: Path) -> None:
    with trio.fail_after(5):
        async with fleet(_settings(tmp_path), count=1) as (hub, workers):
            await hub.set_value("admission.slots", "8")
            await hub.set_value("admission.slots", "9")
            stale = await workers[0].link.answer(
                {"op": "apply", "generation": 1, "values": {"admission.slots": 8}}
            )

    assert stale == {"applied": [], "generation": 2}
    assert workers[0].slots == 9


async def test_reload_reads_the_configuration_once_for_every_worker(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    configuration_file = [settings]
    with trio.fail_after(5):
        async with fleet(settings, configuration_file=configuration_file) as (hub, workers):
            configuration_file.append(_settings(tmp_path, admission={"slots": 3}, port=9999))
            answer = await hub.reload()

    assert answer["status"] == 200
    assert answer["body"]["applied"] == ["admission.slots"]
    assert answer["body"]["needs_restart"] == ["port"]
    assert [worker.slots for worker in workers] == [3, 3]
    assert [worker.live.current.port for worker in workers] == [settings.port] * 2


async def test_a_catalog_refresh_is_queued_in_every_worker(tmp_path: Path) -> None:
    with trio.fail_after(5):
        async with fleet(_settings(tmp_path)) as (hub, workers):
            answer = await hub.refresh_catalogs()

    assert answer["status"] == 202
    assert answer["body"]["refresh"] == "queued"
    assert [o["outcome"] for o in answer["body"]["workers"]] == ["queued", "queued"]
    assert [w.catalog.inbox.statistics().depth for w in workers] == [1, 1]


async def test_status_lists_every_worker_and_names_one_that_is_down(tmp_path: Path) -> None:
    with trio.fail_after(5):
        async with fleet(_settings(tmp_path), count=3) as (hub, _):
            hub.detach(2, hub.links[2].channel)  # type: ignore[arg-type]
            hub.links[2].process_restarts = 1
            gathered = await hub.gather_status()

    assert gathered["supervisor"]["workers"] == 3
    assert [entry["state"] for entry in gathered["workers"]] == ["serving", "serving", "down"]
    assert gathered["workers"][0]["status"] == {"admission": {"slots": 64}}
    assert gathered["workers"][2] == {
        "index": 2,
        "pid": 1002,
        "state": "down",
        "process_restarts": 1,
        "error": "not running (being restarted)",
    }


async def test_metrics_of_every_worker_come_back_labelled_by_worker(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(ANSWER_LIMIT_S + 1):
        async with fleet(_settings(tmp_path), silent=frozenset({1})) as (hub, _):
            gathered = await hub.gather_metrics()
    exposition = render_fleet(gathered["workers"]).decode()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }

    assert samples[("pipe_service_requests_total", (("worker", "0"),))] == 1.0
    assert ("pipe_service_requests_total", (("worker", "1"),)) not in samples
    assert samples[("pipe_service_worker_answered", (("worker", "0"),))] == 1.0
    assert samples[("pipe_service_worker_answered", (("worker", "1"),))] == 0.0
