"""Request telemetry primitives: the per-request trace (ids, phase timing) reachable from any
layer, the request metric families, the last-minute window. Imports no other part of the
service: the chat part tracks requests with them (``chat/request_telemetry.py``), the service
assembles actor statistics into metrics (``service_metrics.py``)."""
