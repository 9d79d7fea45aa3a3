"""Pacing of a simulated answer: delays, answer length and delta size.

Defaults come from :class:`SimulatorConfig`; one request may override any knob with an
``X-Sim-*`` header or a ``metadata`` key of the body (the header wins):

==========================  ============================  =================================
header                      metadata key                  meaning
==========================  ============================  =================================
``X-Sim-First-Token-Delay``  ``sim_first_token_delay_s``   seconds before response.created
``X-Sim-Inter-Delta-Delay``  ``sim_inter_delta_delay_s``   seconds between delta events
``X-Sim-Answer-Words``       ``sim_answer_words``          filler words in a text answer
``X-Sim-Words-Per-Delta``    ``sim_words_per_delta``       words per delta event
``X-Sim-Stall``              ``sim_stall_s``               silence of sim/stall, seconds
==========================  ============================  =================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from pipe_service.simulator.config import SimulatorConfig

_KNOBS: dict[str, tuple[str, str, type[float] | type[int]]] = {
    "first_token_delay_s": ("x-sim-first-token-delay", "sim_first_token_delay_s", float),
    "inter_delta_delay_s": ("x-sim-inter-delta-delay", "sim_inter_delta_delay_s", float),
    "answer_words": ("x-sim-answer-words", "sim_answer_words", int),
    "words_per_delta": ("x-sim-words-per-delta", "sim_words_per_delta", int),
    "stall_s": ("x-sim-stall", "sim_stall_s", float),
}
_MINIMUM = {"answer_words": 1, "words_per_delta": 1}


class PacingOverrideError(ValueError):
    """An ``X-Sim-*`` header or ``sim_*`` metadata value is not a valid number."""


@dataclass(frozen=True, slots=True)
class Pacing:
    first_token_delay_s: float
    inter_delta_delay_s: float
    answer_words: int
    words_per_delta: int
    keepalive_interval_s: float
    leading_keepalives: int
    stall_s: float

    @classmethod
    def from_config(cls, config: SimulatorConfig) -> Pacing:
        return cls(
            first_token_delay_s=config.first_token_delay_s,
            inter_delta_delay_s=config.inter_delta_delay_s,
            answer_words=config.answer_words,
            words_per_delta=config.words_per_delta,
            keepalive_interval_s=config.keepalive_interval_s,
            leading_keepalives=config.leading_keepalives,
            stall_s=config.stall_s,
        )

    def overridden(self, headers: Mapping[str, str], body: Mapping[str, Any]) -> Pacing:
        """A copy with this request's overrides applied (raises PacingOverrideError)."""
        metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
        lowered = {key.lower(): value for key, value in headers.items()}
        changes: dict[str, float | int] = {}
        for field_name, (header, meta_key, kind) in _KNOBS.items():
            raw = lowered.get(header, metadata.get(meta_key) if metadata else None)
            if raw is None:
                continue
            try:
                value = kind(raw)
            except (TypeError, ValueError):
                raise PacingOverrideError(f"{header} / {meta_key}: not a number: {raw!r}") from None
            if not math.isfinite(value) or value < _MINIMUM.get(field_name, 0):
                raise PacingOverrideError(f"{header} / {meta_key}: out of range: {raw!r}")
            changes[field_name] = value
        return replace(self, **changes)  # type: ignore[arg-type]
