"""The log sink actor and its handler, fed directly: ids from the request trace, per-user
levels, the request's ring buffer, batching, fallback writes outside the sink's life, and
encrypted archives with retention."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import deque
from functools import partial
from pathlib import Path
from typing import Any

import lz4.frame
import pytest
import trio
import trio.testing
from cryptography.fernet import Fernet

from actors import ActorSpec, open_supervisor
from pipe_service.logs import JsonFormatter
from pipe_service.logsink import actor as log_sink
from pipe_service.logsink.archive import (
    ArchiveReadError,
    RequestLogArchive,
    archive_codec,
    read_archive,
)
from pipe_service.logsink.handler import SinkHandler
from pipe_service.logsink.levels import LogLevels
from pipe_service.logsink.messages import RequestLog
from pipe_service.storage.codec import LZ4_JSON, PLAIN_JSON
from pipe_service.telemetry.trace import RequestIds, RequestTrace, bind_trace, mark, time_phase
from tests.operations.conftest import ListWriter


def make_trace(user_id: str | None = "u1") -> RequestTrace:
    return RequestTrace(
        ids=RequestIds("req_1", user_id, "chat-1"),
        front="pipe",
        model="sim/text",
        stream=True,
        started_at=trio.current_time(),
        log_lines=deque(maxlen=3),
    )


def make_record(
    message: str, level: int = logging.INFO, name: str = "pipe_service.x"
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


@pytest.fixture
def handler() -> SinkHandler:
    return SinkHandler(
        formatter=JsonFormatter(),
        levels=LogLevels.from_names("INFO", {"u-debug": "DEBUG"}),
        fallback=ListWriter(),
    )


async def test_records_carry_the_requests_ids_and_fill_its_ring_buffer(
    handler: SinkHandler,
) -> None:
    writer = ListWriter()
    inbox = log_sink.open_log_inbox(64)
    async with open_supervisor(grace_s=5) as supervisor:
        await supervisor.start(
            ActorSpec(
                "log_sink",
                partial(log_sink.run, inbox_handle=inbox, handler=handler, writer=writer),
                inbox=inbox,
                layer="sink",
            )
        )
        trace = make_trace()
        with bind_trace(trace):
            for number in range(5):
                handler.handle(make_record(f"line {number}"))
        supervisor.request_shutdown("test")  # the sink drains its inbox before it stops
    first = json.loads(writer.lines[0])
    assert (first["request_id"], first["user_id"], first["chat_id"]) == ("req_1", "u1", "chat-1")
    assert len(trace.log_lines) == 3  # the ring buffer keeps the last N
    assert trace.log_lines[-1].endswith("pipe_service.x: line 4")


async def test_a_user_level_lets_that_users_debug_records_through_only(
    handler: SinkHandler,
) -> None:
    debug = make_record("detail", logging.DEBUG)
    with bind_trace(make_trace("u-debug")):
        handler.handle(debug)
    with bind_trace(make_trace("someone-else")):
        handler.handle(make_record("hidden", logging.DEBUG))
    handler.handle(make_record("library chatter", logging.DEBUG, name="httpx"))
    assert handler.records == 1


async def test_records_before_the_sink_runs_and_after_it_stops_are_written_directly() -> None:
    fallback = ListWriter()
    handler = SinkHandler(formatter=JsonFormatter(), levels=LogLevels(), fallback=fallback)
    handler.handle(make_record("before start"))
    inbox = log_sink.open_log_inbox(16)
    writer = ListWriter()
    async with open_supervisor(grace_s=5) as supervisor:
        await supervisor.start(
            ActorSpec(
                "log_sink",
                partial(log_sink.run, inbox_handle=inbox, handler=handler, writer=writer),
                inbox=inbox,
                layer="sink",
            )
        )
        handler.handle(make_record("while running"))
        supervisor.request_shutdown("test")
    handler.handle(make_record("after stop"))
    assert [json.loads(line)["msg"] for line in fallback.lines] == ["before start", "after stop"]
    assert [json.loads(line)["msg"] for line in writer.lines] == ["while running"]


async def test_records_from_worker_threads_reach_the_sink(handler: SinkHandler) -> None:
    writer = ListWriter()
    inbox = log_sink.open_log_inbox(64)
    async with open_supervisor(grace_s=5) as supervisor:
        await supervisor.start(
            ActorSpec(
                "log_sink",
                partial(log_sink.run, inbox_handle=inbox, handler=handler, writer=writer),
                inbox=inbox,
                layer="sink",
            )
        )
        with bind_trace(make_trace()):
            await trio.to_thread.run_sync(handler.handle, make_record("from a thread"))
        supervisor.request_shutdown("test")
    assert json.loads(writer.lines[0])["request_id"] == "req_1"  # contextvars follow the thread


async def test_phase_timing_records_durations_and_first_offsets_on_virtual_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    trace = make_trace()
    with bind_trace(trace):
        await trio.sleep(1)
        with time_phase("admission_wait"):
            await trio.sleep(2)
        mark("first_byte")
        await trio.sleep(3)
        mark("first_delta_out")
        mark("first_byte")  # the first one wins
        with time_phase("tools"):
            await trio.sleep(4)
        with time_phase("tools"):
            await trio.sleep(5)
    assert trace.phases == {
        "admission_wait": 2,
        "first_byte": 3,
        "first_delta_out": 6,
        "tools": 9,
    }
    assert trace.timing_summary() == (
        "admission_wait 2000 ms, tools 9000 ms, first_byte 3000 ms, first_delta_out 6000 ms"
    )
    mark("first_byte")  # outside a request: nothing to record, no error


def test_archives_round_trip_encrypted_and_refuse_a_wrong_key(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    archive = RequestLogArchive(tmp_path, archive_codec(key), retention_days=14)
    log = RequestLog("req_../../x", ("first line", "second line"), finished_at=time.time())
    assert archive.write_all([log]) == []
    [path] = list(tmp_path.rglob("*.fernet"))
    assert path.parent.parent == tmp_path  # the id cannot escape the day folder
    assert b"first line" not in path.read_bytes()
    assert read_archive(path, archive_codec(key)) == "first line\nsecond line"
    with pytest.raises(ArchiveReadError, match="wrong archive key"):
        read_archive(path, archive_codec(Fernet.generate_key().decode()))


def test_archives_use_the_persistence_codec_envelope(tmp_path: Path) -> None:
    key = Fernet.generate_key()
    many = tuple(f"line {n}: admission_wait 3 ms, first_byte 40 ms" for n in range(200))
    archive = RequestLogArchive(tmp_path, archive_codec(key.decode()), retention_days=14)
    archive.write_all([RequestLog("req_big", many, time.time())])
    [path] = list(tmp_path.rglob("*.fernet"))
    plain = Fernet(key).decrypt(path.read_bytes())
    assert plain[0] == LZ4_JSON  # the codec's header byte: LZ4 chosen, as it is smaller
    assert read_archive(path, archive_codec(key.decode())) == "\n".join(many)
    small = RequestLog("req_small", ("x",), time.time())
    archive.write_all([small])
    assert Fernet(key).decrypt(archive.path_for(small).read_bytes())[0] == PLAIN_JSON


def test_archives_written_before_the_shared_codec_stay_readable(tmp_path: Path) -> None:
    key = Fernet.generate_key()
    legacy = tmp_path / "req_old.log.lz4.fernet"
    # The former format: Fernet over a bare LZ4 frame of the joined lines.
    legacy.write_bytes(Fernet(key).encrypt(lz4.frame.compress(b"old one\nold two")))
    assert read_archive(legacy, archive_codec(key.decode())) == "old one\nold two"
    damaged = tmp_path / "req_bad.log.lz4.fernet"
    damaged.write_bytes(Fernet(key).encrypt(b"\x07not an archive"))
    with pytest.raises(ArchiveReadError, match="damaged"):
        read_archive(damaged, archive_codec(key.decode()))


def test_retention_deletes_day_folders_older_than_the_limit(tmp_path: Path) -> None:
    archive = RequestLogArchive(
        tmp_path, archive_codec(Fernet.generate_key().decode()), retention_days=2
    )
    now = time.time()
    for days_ago in range(5):
        archive.write_all([RequestLog(f"req_{days_ago}", ("x",), now - days_ago * 86400)])
    removed = archive.prune(now)
    assert len(removed) == 2
    assert len(list(tmp_path.iterdir())) == 3


def test_an_unwritable_archive_directory_is_reported_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    archive = RequestLogArchive(
        blocker, archive_codec(Fernet.generate_key().decode()), retention_days=1
    )
    [failure] = archive.write_all([RequestLog("req_1", ("x",), time.time())])
    assert json.loads(failure)["msg"] == "request log archive not written"
    assert archive.failed == 1


async def test_the_request_buffer_never_holds_a_traceback(handler: SinkHandler) -> None:
    try:
        raise ValueError("secret detail in a traceback frame")
    except ValueError:
        record = logging.LogRecord(
            "pipe_service.x", logging.ERROR, __file__, 1, "turn failed", None, sys.exc_info()
        )
    trace = make_trace()
    with bind_trace(trace):
        handler.handle(record)
    assert trace.log_lines[-1].endswith("pipe_service.x: turn failed (ValueError)")
    assert "Traceback" not in "".join(trace.log_lines)


class CountingArchive:
    """Records when retention ran (the real one deletes folders; see the tests above)."""

    def __init__(self) -> None:
        self.pruned_at: list[float] = []

    def prune(self, now: float) -> list[Path]:
        self.pruned_at.append(trio.current_time())
        return []


async def test_retention_runs_at_start_and_every_hour_without_drift(
    autojump_clock: trio.testing.MockClock,
) -> None:
    archive = CountingArchive()
    start = trio.current_time()

    async def inline(prune: Any, now: float) -> object:
        return prune(now)  # no worker thread: virtual time cannot jump past it

    with trio.move_on_after(3 * 3600 + 10):
        await log_sink.apply_retention(archive, run_sync=inline)  # type: ignore[arg-type]
    assert [at - start for at in archive.pruned_at] == [0, 3600, 7200, 10800]
