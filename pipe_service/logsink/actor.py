"""The log sink actor: drains the log inbox and writes batches off the event loop.

Synopsis::

    inbox = open_log_inbox(settings.logging.inbox_size)
    await supervisor.start(ActorSpec("log_sink", partial(run, handler=handler, writer=writer,
                                      archive=archive), inbox=inbox, layer="sink"))
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING

import trio

from actors.inbox import Inbox, InboxReceiver, OverloadPolicy
from pipe_service.logsink.handler import SinkHandler
from pipe_service.logsink.messages import LogLine, RequestLog, SinkMessage
from pipe_service.logsink.writer import LogWriter

if TYPE_CHECKING:  # the archive (cryptography, lz4) is imported only when configured
    from pipe_service.logsink.archive import RequestLogArchive

LOG_SINK_INBOX = "log_sink"
MAX_BATCH = 512  # lines per write: one syscall per batch, bounded latency per batch
PRUNE_EVERY_S = 3600.0  # archive retention is applied at start and then hourly


def open_log_inbox(size: int) -> Inbox[SinkMessage]:
    """The sink's inbox: DROP policy (telemetry edge, STYLE rule 6), explicit size."""
    return Inbox[SinkMessage](LOG_SINK_INBOX, size, OverloadPolicy.DROP)


async def run(
    inbox: InboxReceiver[SinkMessage],
    *,
    inbox_handle: Inbox[SinkMessage],
    handler: SinkHandler,
    writer: LogWriter,
    archive: RequestLogArchive | None = None,
    task_status: trio.TaskStatus[SinkHandler] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Write every queued log line; archive finished requests' logs when configured.

    Consumes :class:`LogLine` and :class:`RequestLog` from ``inbox`` (fed by ``handler`` from
    every logger, never blocking them: the DROP policy drops and counts when it is full).
    Produces lines on ``writer`` (stderr), in batches of up to ``MAX_BATCH``, each written in a
    worker thread so a slow or blocked stderr slows only this actor, never a stream.
    ``started()`` returns the handler once it feeds this inbox.

    Resource handling: the handler is attached to ``inbox_handle`` for this run only and
    detached on any exit, after which records are written directly again (so shutdown and
    crash messages are never lost). The sink is started first and stopped last: the supervisor
    closes its inbox after every producer stopped, and this loop drains what is queued.

    With archives, expired day folders are deleted at start and every ``PRUNE_EVERY_S``.

    Error handling: a failing write or archive raises to the supervisor (restart with a fresh
    receive clone; queued lines stay in the channel). Archive write errors are reported as a
    log line and the archive skipped, since losing one archive must not stop logging.
    """
    handler.attach(inbox_handle)
    try:
        async with trio.open_nursery() as nursery:
            if archive is not None:
                nursery.start_soon(apply_retention, archive)
            task_status.started(handler)
            async with inbox:
                async for first in inbox:
                    batch = [first]
                    while len(batch) < MAX_BATCH:
                        try:
                            batch.append(inbox.receive_nowait())
                        except (trio.WouldBlock, trio.EndOfChannel):
                            break
                    await _write(batch, writer, archive)
            nursery.cancel_scope.cancel()  # drained: the retention loop has nothing left to do
    finally:
        handler.detach()


async def apply_retention(
    archive: RequestLogArchive,
    every_s: float = PRUNE_EVERY_S,
    *,
    run_sync: Callable[[Callable[[float], object], float], Awaitable[object]] = (
        trio.to_thread.run_sync
    ),
) -> None:
    """Delete expired archive folders now and then every ``every_s``, without drift (an
    idle service keeps its retention too). ``run_sync`` runs the file work (a worker thread)."""
    next_at = trio.current_time()
    while True:
        await run_sync(archive.prune, time.time())
        next_at += every_s
        await trio.sleep_until(next_at)


async def _write(
    batch: list[SinkMessage], writer: LogWriter, archive: RequestLogArchive | None
) -> None:
    lines = [message.text for message in batch if isinstance(message, LogLine)]
    requests = [message for message in batch if isinstance(message, RequestLog)]
    if lines:
        await trio.to_thread.run_sync(writer.write_lines, lines)
    if archive is not None and requests:
        failures = await trio.to_thread.run_sync(partial(archive.write_all, requests))
        if failures:
            await trio.to_thread.run_sync(writer.write_lines, failures)
