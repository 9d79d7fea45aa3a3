"""The HTTP response for a streamed answer (Server-Sent Events), shared by both OpenAI fronts."""

from __future__ import annotations

from collections.abc import AsyncIterable

from quart import Response


def event_stream_response(body: AsyncIterable[bytes]) -> Response:
    """A ``text/event-stream`` response for ``body``: never cached, never buffered by a proxy,
    and without Quart's response timeout (a long answer is not a stuck one)."""
    response = Response(body, content_type="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    response.timeout = None
    return response
