"""Mid-stream failures map to the error kind their user notice is worded for."""

from __future__ import annotations

import pytest

from pipe_service.chat.events import Failed
from pipe_service.chat.turn import failure_as_error
from pipe_service.openrouter.errors import UpstreamErrorKind


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("server_error", UpstreamErrorKind.STREAM_FAILED),
        ("rate_limit_exceeded", UpstreamErrorKind.STREAM_FAILED),
        ("upstream_error", UpstreamErrorKind.STREAM_FAILED),
        ("stream_ended_without_completion", UpstreamErrorKind.STREAM_INCOMPLETE),
        ("network", UpstreamErrorKind.NETWORK),
        ("stalled", UpstreamErrorKind.STALLED),
        ("timeout", UpstreamErrorKind.TIMEOUT),
        ("bad_request", UpstreamErrorKind.STREAM_FAILED),
    ],
)
def test_failure_codes_map_to_mid_stream_kinds(code: str, kind: UpstreamErrorKind) -> None:
    error = failure_as_error(Failed(code=code, message="boom", error_type=None, response_id=None))
    assert error.kind is kind
    assert error.code == code
    assert error.message == "boom"
