"""What a benchmark run does: scenarios (simulator pacing), concurrency levels, rounds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

# The prompt every stream sends. The simulator answers "You said: bench." (3 one-word deltas)
# followed by ``answer_words`` filler words, so a scenario's delta count is answer_words + 3.
PROMPT: Final = "bench"
LEAD_DELTAS: Final = 3
MODEL: Final = "sim/text"


@dataclass(frozen=True, slots=True)
class Scenario:
    """One simulator pacing, applied process-wide (the sidecar does not forward X-Sim headers).

    Synopsis::

        Scenario("paced", first_token_delay_s=0.2, inter_delta_delay_s=0.02, deltas=100)
    """

    name: str
    first_token_delay_s: float
    inter_delta_delay_s: float
    deltas: int
    words_per_delta: int = 1

    def __post_init__(self) -> None:
        if self.deltas <= LEAD_DELTAS:
            raise ValueError(f"scenario {self.name!r}: deltas must exceed {LEAD_DELTAS}")

    @property
    def answer_words(self) -> int:
        return (self.deltas - LEAD_DELTAS) * self.words_per_delta

    def simulator_args(self) -> list[str]:
        """The ``pipe-service simulator`` flags that produce this pacing."""
        return [
            "--first-token-delay",
            str(self.first_token_delay_s),
            "--inter-delta-delay",
            str(self.inter_delta_delay_s),
            "--answer-words",
            str(self.answer_words),
            "--words-per-delta",
            str(self.words_per_delta),
        ]

    def stream_limit_s(self) -> float:
        """A generous bound on one batch of streams: paced time, plus slack for a busy machine."""
        return 30.0 + 10 * (self.first_token_delay_s + self.deltas * self.inter_delta_delay_s)


SCENARIOS: Final = {
    # LLM-like: 200 ms to the first token, then 50 deltas/s.
    "paced": Scenario("paced", first_token_delay_s=0.2, inter_delta_delay_s=0.02, deltas=100),
    # No pacing at all: measures the relay's CPU ceiling.
    "burst": Scenario("burst", first_token_delay_s=0.0, inter_delta_delay_s=0.0, deltas=200),
}

QUICK_SCENARIOS: Final = {
    "paced": Scenario("paced", first_token_delay_s=0.05, inter_delta_delay_s=0.005, deltas=20),
    "burst": Scenario("burst", first_token_delay_s=0.0, inter_delta_delay_s=0.0, deltas=20),
}


@dataclass(frozen=True, slots=True)
class BenchPlan:
    """A whole run. ``sidecar_settings`` are extra ``PIPE_SERVICE_*`` variables for the sidecar."""

    scenarios: tuple[Scenario, ...]
    concurrency: tuple[int, ...]
    rounds: int
    warmup_streams: int = 2
    # Long enough for the 10 ms clock tick of /proc CPU times to matter little.
    idle_sample_s: float = 2.0
    startup_limit_s: float = 60.0
    sidecar_settings: dict[str, str] = field(default_factory=dict)
    include_shim: bool = True
    workers: int = 1
    """``serve --workers``: 1 measures one process; more spreads the streams over workers."""

    def __post_init__(self) -> None:
        if not self.scenarios:
            raise ValueError("at least one scenario is needed")
        if not self.concurrency or min(self.concurrency) < 1:
            raise ValueError("concurrency levels must be positive integers")
        if self.rounds < 1:
            raise ValueError("rounds must be at least 1")

    @property
    def max_concurrency(self) -> int:
        return max(self.concurrency)


def default_plan(
    *,
    scenario_names: tuple[str, ...] = ("paced", "burst"),
    concurrency: tuple[int, ...] = (1, 16, 64),
    rounds: int = 3,
) -> BenchPlan:
    return BenchPlan(
        scenarios=tuple(_scenario(SCENARIOS, name) for name in scenario_names),
        concurrency=concurrency,
        rounds=rounds,
    )


def quick_plan(*, scenario_names: tuple[str, ...] = ("paced", "burst")) -> BenchPlan:
    """A tiny run (seconds): concurrency 1 and 2, one round, 20 deltas per stream."""
    return BenchPlan(
        scenarios=tuple(_scenario(QUICK_SCENARIOS, name) for name in scenario_names),
        concurrency=(1, 2),
        rounds=1,
        warmup_streams=1,
        idle_sample_s=0.5,
    )


def _scenario(table: dict[str, Scenario], name: str) -> Scenario:
    try:
        return table[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(table)}") from None
