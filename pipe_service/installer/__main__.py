"""``python -m pipe_service.installer install ...`` = ``pipe-service shim install ...``."""

from __future__ import annotations

import argparse

from pipe_service.installer.commands import add_shim_actions, run_shim_command

parser = argparse.ArgumentParser(prog="python -m pipe_service.installer", description=__doc__)
add_shim_actions(parser.add_subparsers(dest="shim_command", required=True))
raise SystemExit(run_shim_command(parser.parse_args()))
