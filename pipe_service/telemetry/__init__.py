"""Request telemetry: per-request traces and phase timing, request metrics, the scrape-time
collector of every actor's statistics."""
