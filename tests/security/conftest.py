"""The live-sidecar fixtures (``tests/service/conftest.py``), shared with the security tests."""

from __future__ import annotations

from tests.service import conftest as service_conftest

sidecar = service_conftest.sidecar
sidecar_overrides = service_conftest.sidecar_overrides
