"""The JSON-lines log format (the sink in ``pipe_service/logsink/`` writes it), secrets kept out.

Records carry the logger name and any ``extra`` fields the caller passed. Nothing here formats
request bodies: callers log ids, sizes and outcomes, never payloads or keys.
"""

from __future__ import annotations

import json
import logging
from typing import Any

_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One compact JSON object per record: ts, level, logger, msg, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = (
                    value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
                )
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)
