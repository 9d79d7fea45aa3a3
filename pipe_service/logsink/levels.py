"""Which records pass: a global level, and a lower level for chosen users (diagnosis)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

# Per-user levels only lower the bar for our own loggers; library DEBUG stays out.
OWN_LOGGERS = ("pipe_service", "actors")


@dataclass
class LogLevels:
    """The levels in force; replaced as a whole at run time (``set``/reload)."""

    level: int = logging.INFO
    users: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_names(cls, level: str, users: Mapping[str, str]) -> LogLevels:
        return cls(
            level=logging.getLevelName(level),
            users={user: logging.getLevelName(name) for user, name in users.items()},
        )

    @property
    def lowest(self) -> int:
        """The level loggers must let through for this filter to see every wanted record."""
        return min([self.level, *self.users.values()])

    def accepts(self, record: logging.LogRecord, user_id: str | None) -> bool:
        if record.levelno >= self.level:
            return True
        if user_id is None or user_id not in self.users:
            return False
        own = record.name.startswith(OWN_LOGGERS)
        return own and record.levelno >= self.users[user_id]
