"""OpenRouter simulator: a real HTTP server that speaks OpenRouter's Responses API.

Entry points: :class:`SimulatorConfig`, :func:`create_app`, :func:`serve_simulator`.
See ``docs/simulator.md`` for scenarios (``sim/*`` models), knobs and endpoints.
"""

from __future__ import annotations

from pipe_service.simulator.app import create_app
from pipe_service.simulator.config import SimulatorConfig
from pipe_service.simulator.server import serve_simulator

__all__ = ["SimulatorConfig", "create_app", "serve_simulator"]
