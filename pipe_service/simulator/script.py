"""The steps of a simulated answer: a plain list the HTTP body player walks.

Scenarios are pure functions that append steps; nothing here awaits. Building the whole script up
front keeps answers deterministic and lets the non-stream path reuse the stream's final Response.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Emit:
    """Send one ``data:`` event (the dict already carries its ``sequence_number``)."""

    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Keepalive:
    """Send one ``: OPENROUTER PROCESSING`` comment."""


@dataclass(frozen=True, slots=True)
class Pause:
    """Wait ``seconds``, sending a keep-alive comment every ``keepalive_interval_s`` meanwhile."""

    seconds: float
    keepalive_interval_s: float


@dataclass(frozen=True, slots=True)
class Stall:
    """Wait ``seconds`` in complete silence (to exercise client read timeouts)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Drop:
    """Drop the connection: no terminal event, no ``[DONE]``."""


@dataclass(frozen=True, slots=True)
class Done:
    """Send the ``data: [DONE]`` sentinel."""


Step = Emit | Keepalive | Pause | Stall | Drop | Done


def total_delay(steps: list[Step]) -> float:
    """Seconds a script spends waiting (the non-stream path sleeps this long)."""
    return sum(step.seconds for step in steps if isinstance(step, Pause | Stall))
