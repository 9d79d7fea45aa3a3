"""Install the shim (one Open WebUI pipe Function) into a running Open WebUI over its REST API.

``pipe-service shim install`` creates or updates the Function, types and stores its valves,
enables it, and lists the models it offers. See ``docs/install.md``.
"""

from __future__ import annotations

from pipe_service.installer.errors import InstallError
from pipe_service.installer.install import InstallOptions, InstallResult, install_shim
from pipe_service.installer.owui_api import OpenWebUI
from pipe_service.installer.valves import parse_valve_assignments, type_valves

__all__ = [
    "InstallError",
    "InstallOptions",
    "InstallResult",
    "OpenWebUI",
    "install_shim",
    "parse_valve_assignments",
    "type_valves",
]
