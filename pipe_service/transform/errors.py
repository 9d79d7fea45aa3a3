"""The one error the request transform raises, and the JSON-path helpers that name fields.

Synopsis::

    try:
        payload = build_responses_payload(body, model=caps, options=options)
    except RequestTransformError as exc:
        reply_400(field=exc.field, message=str(exc))
"""

from __future__ import annotations

__all__ = ["RequestTransformError", "field_path"]


class RequestTransformError(ValueError):
    """The Open WebUI body cannot be turned into a Responses request (the caller answers 400).

    ``field`` is a JSON path into the chat body, e.g. ``messages[3].content[0].type``.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def field_path(parent: str, child: str | int) -> str:
    """Extend a JSON path: ``field_path("messages", 3)`` → ``"messages[3]"``."""
    if isinstance(child, int):
        return f"{parent}[{child}]"
    return f"{parent}.{child}" if parent else child
