"""The operator's commands that talk to a running sidecar over its Unix socket:
``status``, ``top``, ``models``, ``chat``, ``set``, ``reload`` (``cli.py`` wires them)."""
