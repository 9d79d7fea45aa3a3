"""The ``logging.Handler`` in front of the sink: enrich, filter, buffer, hand over, never block.

For every record it:

1. adds ``request_id``, ``user_id`` and ``chat_id`` from the current request's trace (a context
   variable, so records from any layer and from worker threads carry them);
2. applies the global level and the per-user levels (:class:`~.levels.LogLevels`);
3. appends a short line to the request's ring buffer (``attach_to_errors``, archives);
4. formats it (JSON lines, or text) and offers it to the sink's inbox with ``send_nowait``: a
   full inbox drops the record and counts it (DROP policy), so a stream never waits for logs.

Records from other threads reach the inbox through the trio token; records before the sink
starts or after it stops are written directly (start-up errors must not vanish).

Synopsis::

    handler = install_sink_handler(settings)          # the CLI, before trio.run
    ... the sink actor attaches its inbox while it runs ...
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Mapping
from typing import Literal

import trio

from actors.inbox import Inbox
from pipe_service.logs import JsonFormatter
from pipe_service.logsink.levels import LogLevels
from pipe_service.logsink.messages import LogLine, SinkMessage
from pipe_service.logsink.writer import LogWriter, StreamLogWriter
from pipe_service.telemetry.trace import current_trace

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
BUFFER_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def text_formatter(fmt: str = TEXT_FORMAT) -> logging.Formatter:
    formatter = logging.Formatter(fmt)
    formatter.converter = time.gmtime
    return formatter


class SinkHandler(logging.Handler):
    """See the module docstring. One per process, installed on the root logger."""

    def __init__(
        self,
        *,
        formatter: logging.Formatter,
        levels: LogLevels,
        fallback: LogWriter | None = None,
    ) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(formatter)
        self.levels = levels
        self._fallback = fallback or StreamLogWriter()
        self._buffer_formatter = text_formatter(BUFFER_FORMAT)
        self._inbox: Inbox[SinkMessage] | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self.records = 0  # accepted by the level filter

    # -- the sink actor attaches while it runs --------------------------------------------

    def attach(self, inbox: Inbox[SinkMessage]) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._inbox = inbox

    def detach(self) -> None:
        self._inbox = None
        self._token = None

    def set_levels(self, levels: LogLevels) -> None:
        """Apply new levels (run time): the root logger must pass the lowest one wanted."""
        self.levels = levels
        logging.getLogger().setLevel(levels.lowest)

    # -- logging.Handler --------------------------------------------------------------------

    def handle(self, record: logging.LogRecord) -> bool:
        # No handler lock: emit never blocks and the formatter is stateless.
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            trace = current_trace()
            user_id = trace.ids.user_id if trace is not None else None
            if not self.levels.accepts(record, user_id):
                return
            self.records += 1
            if trace is not None:
                record.request_id = trace.ids.request_id
                if trace.ids.user_id is not None:
                    record.user_id = trace.ids.user_id
                if trace.ids.chat_id is not None:
                    record.chat_id = trace.ids.chat_id
                trace.log_lines.append(self._buffer_line(record))
            self._deliver(LogLine(self.format(record)))
        except Exception:  # logging must never break the caller (stdlib contract)
            self.handleError(record)

    def _buffer_line(self, record: logging.LogRecord) -> str:
        """A short line for the request's ring buffer: never a traceback, since the buffer
        may be shown to the user (``attach_to_errors``); the exception's type is enough."""
        line = f"{self._buffer_formatter.formatTime(record)} {record.levelname} {record.name}: "
        line += record.getMessage()
        if record.exc_info and record.exc_info[0] is not None:
            line += f" ({record.exc_info[0].__name__})"
        return line

    def _deliver(self, line: LogLine) -> None:
        inbox, token = self._inbox, self._token
        if inbox is None or token is None:
            self._fallback.write_lines([line.text])
            return
        if trio.lowlevel.in_trio_run():
            self._offer_or_write(inbox, line)
            return
        try:
            token.run_sync_soon(self._offer_or_write, inbox, line)
        except trio.RunFinishedError:
            self._fallback.write_lines([line.text])

    def _offer_or_write(self, inbox: Inbox[SinkMessage], line: LogLine) -> None:
        try:
            inbox.send_nowait(line)  # DROP policy: a full inbox drops and counts
        except trio.ClosedResourceError:
            # The sink is draining at shutdown: write directly so the last words survive.
            self._fallback.write_lines([line.text])

    def offer(self, message: SinkMessage) -> None:
        """Queue a non-record message (a request's archive) from the trio thread; dropped and
        counted like a record when the inbox is full, dropped silently when no sink runs."""
        if self._inbox is not None:
            with contextlib.suppress(trio.ClosedResourceError):  # shutting down: no archive
                self._inbox.send_nowait(message)


def make_formatter(fmt: Literal["auto", "json", "text"]) -> logging.Formatter:
    if fmt == "auto":
        fmt = "text" if sys.stderr.isatty() else "json"
    return JsonFormatter() if fmt == "json" else text_formatter()


def installed_sink_handler() -> SinkHandler | None:
    """The sink handler on the root logger, if the CLI installed one."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, SinkHandler):
            return handler
    return None


def install_sink_handler(
    level: str,
    fmt: Literal["auto", "json", "text"],
    user_levels: Mapping[str, str] | None = None,
) -> SinkHandler:
    """Route every logger of the process through a :class:`SinkHandler` (replacing others)."""
    handler = SinkHandler(
        formatter=make_formatter(fmt), levels=LogLevels.from_names(level, user_levels or {})
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(handler.levels.lowest)
    return handler
