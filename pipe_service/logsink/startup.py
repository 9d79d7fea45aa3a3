"""Start the log sink as the service's first actor, with the handler the CLI installed.

Synopsis::

    sink = await start_log_sink(supervisor, settings, restart=policy, writer=None)
    sink.statistics()          # records, dropped, queued, capacity (status and metrics)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from actors import ActorSpec, RestartPolicy, Supervisor
from actors.inbox import Inbox
from pipe_service.config import Settings
from pipe_service.logsink import actor as log_sink_actor
from pipe_service.logsink.actor import open_log_inbox
from pipe_service.logsink.handler import SinkHandler, installed_sink_handler, make_formatter
from pipe_service.logsink.levels import LogLevels
from pipe_service.logsink.messages import SinkMessage
from pipe_service.logsink.writer import LogWriter, StreamLogWriter

if TYPE_CHECKING:
    from pipe_service.logsink.archive import RequestLogArchive


@dataclass(frozen=True)
class LogSinkStatistics:
    records: int  # accepted by the level filter
    dropped: int  # refused by the full inbox
    queued: int
    capacity: int


@dataclass(frozen=True)
class LogSink:
    handler: SinkHandler
    inbox: Inbox[SinkMessage]
    archive: RequestLogArchive | None

    def statistics(self) -> LogSinkStatistics:
        stats = self.inbox.statistics()
        return LogSinkStatistics(
            records=self.handler.records,
            dropped=stats.dropped,
            queued=stats.depth,
            capacity=stats.size,
        )


async def start_log_sink(
    supervisor: Supervisor,
    settings: Settings,
    *,
    restart: RestartPolicy | None,
    writer: LogWriter | None = None,
) -> LogSink:
    """Start the sink actor (a sink-layer actor: stopped last, after it drains).

    When the CLI installed the sink handler on the root logger it is used, with the configured
    levels; otherwise (tests, embedding) a detached handler is made, so the sink and its
    metrics exist without taking over the host's logging.
    """
    levels = LogLevels.from_names(settings.log_level, settings.logging.user_levels)
    handler = installed_sink_handler()
    if handler is None:
        handler = SinkHandler(formatter=make_formatter(settings.log_format), levels=levels)
    else:
        handler.set_levels(levels)
    inbox = open_log_inbox(settings.logging.inbox_size)
    archive = open_archive(settings)
    await supervisor.start(
        ActorSpec(
            "log_sink",
            partial(
                log_sink_actor.run,
                inbox_handle=inbox,
                handler=handler,
                writer=writer or StreamLogWriter(),
                archive=archive,
            ),
            inbox=inbox,
            layer="sink",
            restart=restart,
        )
    )
    return LogSink(handler=handler, inbox=inbox, archive=archive)


def open_archive(settings: Settings) -> RequestLogArchive | None:
    options = settings.logging
    if options.archive_dir is None or options.archive_key is None:
        return None
    # Imported here: cryptography and lz4 cost ~7 MB RSS, paid only when archives are on.
    from pipe_service.logsink.archive import RequestLogArchive, archive_codec

    codec = archive_codec(options.archive_key.get_secret_value())
    return RequestLogArchive(
        options.archive_dir, codec, retention_days=options.archive_retention_days
    )
