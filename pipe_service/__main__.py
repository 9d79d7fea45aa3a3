"""``python -m pipe_service`` is the ``pipe-service`` command."""

from __future__ import annotations

from pipe_service.cli import main

raise SystemExit(main())
