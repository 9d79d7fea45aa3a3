"""``pipe-service bench``: what the sidecar adds over a direct connection to the simulator.

The benchmark starts the OpenRouter simulator and a sidecar as separate processes (so their CPU
and memory are attributable), drives both with concurrent streams from this process, and reports
added time to first token, total-duration overhead, throughput, sidecar CPU per event and memory
per open stream. See ``docs/benchmarks.md``.

Entry points: :func:`run_bench` (trio) and the CLI glue in :mod:`pipe_service.bench.cli`.
"""

from __future__ import annotations

from pipe_service.bench.plan import BenchPlan, Scenario, default_plan, quick_plan
from pipe_service.bench.runner import BenchSetupError, run_bench

__all__ = ["BenchPlan", "BenchSetupError", "Scenario", "default_plan", "quick_plan", "run_bench"]
