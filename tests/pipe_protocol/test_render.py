"""TurnRenderer: turn outputs to frames, showing the one error value each failure carries."""

from __future__ import annotations

from pipe_service.admission.gate import ServerBusyError
from pipe_service.chat.error_messages import LocalError, LocalErrorKind
from pipe_service.chat.events import Failed, TextDelta
from pipe_service.chat.gateway import shutdown_cut
from pipe_service.chat.turn_request import TurnError
from pipe_service.front.pipe.render import TurnRenderer
from pipe_service.front.pipe.request import RenderOptions
from pipe_service.openrouter.errors import UpstreamError, UpstreamErrorKind
from pipe_service.protocol import Busy, Delta, Error


class Wording:
    def error_markdown(self, error: UpstreamError | LocalError) -> str:
        return f"error {error.kind.value} {error.error_id}"

    def interrupted_notice(self, error: UpstreamError | LocalError) -> str:
        return f"interrupted {error.kind.value} {error.error_id}"


def _renderer() -> TurnRenderer:
    return TurnRenderer(
        RenderOptions(), whole_answer=False, task=False, model="acme/chat", started_at=0.0,
        wording=Wording(),
    )  # fmt: skip


def test_a_failure_after_output_is_interrupted_with_the_id_minted_where_it_failed() -> None:
    dropped = UpstreamError(UpstreamErrorKind.NETWORK, "connection lost", retry_after_s=3)
    failed = Failed(code="network", message="x", error_type=None, response_id=None, failure=dropped)
    renderer = _renderer()
    assert renderer.render(TextDelta("partial"), now=1) == [Delta(text="partial")]
    [frame] = renderer.render(failed, now=2)
    assert isinstance(frame, Error)
    assert (frame.code, frame.error_id, frame.retry_after_s) == (
        "interrupted",
        dropped.error_id,
        3,
    )
    assert frame.message == f"interrupted network {dropped.error_id}"


def test_a_failed_event_keeps_one_id_however_often_it_is_read() -> None:
    failed = Failed(code="server_error", message="boom", error_type=None, response_id=None)
    [first] = _renderer().render(failed, now=1)
    [again] = _renderer().render(failed, now=1)
    assert isinstance(first, Error)
    assert isinstance(again, Error)
    assert first.error_id == again.error_id == failed.failure.error_id


def test_the_shutdown_cut_is_a_shutting_down_frame_naming_the_sidecar() -> None:
    cut = shutdown_cut()
    [frame] = _renderer().render(cut, now=1)
    assert isinstance(frame, Error)
    assert frame.code == "shutting_down"
    assert isinstance(cut.failure, LocalError)
    assert cut.failure.kind is LocalErrorKind.SHUTTING_DOWN
    assert frame.error_id == cut.failure.error_id


def test_busy_before_output_is_a_busy_frame_with_retry_after() -> None:
    refused = TurnError(ServerBusyError(slots=1, queue=1, retry_after_s=7))
    [frame] = _renderer().render(refused, now=1)
    assert isinstance(frame, Busy)
    assert frame.retry_after_s == 7


def test_an_upstream_error_before_output_keeps_status_retry_after_and_id() -> None:
    limited = UpstreamError(
        UpstreamErrorKind.RATE_LIMITED, "slow down", status=429, retry_after_s=9
    )
    [frame] = _renderer().render(TurnError(limited), now=1)
    assert isinstance(frame, Error)
    assert frame.code == "upstream_error"
    assert (frame.error_id, frame.retry_after_s) == (limited.error_id, 9)
