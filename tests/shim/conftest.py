"""Fixtures for the shim tests: the real shim file, loaded like Open WebUI loads it, and the
live sidecar from tests/service (simulator upstream, Unix socket and loopback TCP)."""

from __future__ import annotations

import types

import pytest

from tests.service.conftest import Sidecar, sidecar, sidecar_overrides
from tests.shim.harness import load_shim

__all__ = ["sidecar", "sidecar_overrides"]


@pytest.fixture
def shim() -> types.ModuleType:
    return load_shim()


def uds_address(sidecar: Sidecar) -> str:
    return f"unix:{sidecar.settings.effective_socket_path}"


@pytest.fixture
def uds_pipe(shim: types.ModuleType, sidecar: Sidecar) -> object:
    """A ``Pipe`` whose valves point at the live sidecar's Unix socket."""
    pipe = shim.Pipe()
    pipe.valves = shim.Pipe.Valves(SIDECAR_ADDRESSES=uds_address(sidecar))
    return pipe
