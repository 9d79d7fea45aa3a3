"""pipe-service: an OpenRouter Responses API gateway for Open WebUI, on trio."""

__version__ = "0.1.0"
