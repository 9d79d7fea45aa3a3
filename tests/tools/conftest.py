"""The live-sidecar fixtures of tests/service, for the end-to-end tool-loop tests."""

from __future__ import annotations

from tests.service.conftest import sidecar, sidecar_overrides

__all__ = ["sidecar", "sidecar_overrides"]
