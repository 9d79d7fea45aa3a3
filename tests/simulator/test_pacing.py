"""Pacing on virtual time (autojump_clock), at the level of the scripted body player.

hypercorn's own timers make real sockets and an autojump clock a poor mix, so these tests build
the script with :func:`build_turn` and play it with :func:`play_stream` directly.
"""

from __future__ import annotations

import pytest
import trio

from pipe_service.simulator.body import SimulatedDisconnectError, play_stream
from pipe_service.simulator.catalog import load_sim_catalog
from pipe_service.simulator.config import SimulatorConfig
from pipe_service.simulator.pacing import Pacing, PacingOverrideError
from pipe_service.simulator.request_view import build_turn_request
from pipe_service.simulator.script import Step
from pipe_service.simulator.sse import KEEPALIVE_FRAME
from pipe_service.simulator.turn import build_turn


def _steps(model: str = "sim/text", **config: float | int) -> list[Step]:
    pacing = Pacing.from_config(SimulatorConfig.model_validate(config))
    card = load_sim_catalog().card(model)
    assert card is not None
    request = build_turn_request({"model": model, "input": "hi"}, model)
    return build_turn(request, card, pacing, provider_name="Simulator", now=0).steps


async def _frame_times(
    steps: list[Step], stopping: trio.Event | None = None
) -> list[tuple[float, bytes]]:
    ends: list[bool] = []
    frames: list[tuple[float, bytes]] = []
    async for frame in play_stream(steps, stopping or trio.Event(), ends.append):
        frames.append((trio.current_time(), frame))
    assert ends == [True]
    return frames


async def test_first_token_delay_precedes_response_created(autojump_clock: object) -> None:
    steps = _steps(first_token_delay_s=2.5, answer_words=2)
    frames = await _frame_times(steps)
    created_at = next(t for t, f in frames if b"response.created" in f)
    assert created_at == pytest.approx(2.5)


async def test_keepalives_repeat_during_a_long_pause(autojump_clock: object) -> None:
    steps = _steps(first_token_delay_s=35, keepalive_interval_s=15, answer_words=2)
    frames = await _frame_times(steps)
    keepalive_times = [t for t, f in frames if f == KEEPALIVE_FRAME]
    assert keepalive_times == pytest.approx([0, 15, 30])


async def test_inter_delta_delay_spaces_every_delta(autojump_clock: object) -> None:
    start = trio.current_time()
    steps = _steps(inter_delta_delay_s=0.25, answer_words=3)  # "You said: hi." + 3 words = 6 deltas
    frames = await _frame_times(steps)
    delta_times = [t - start for t, f in frames if b"output_text.delta" in f]
    assert delta_times == pytest.approx([0, 0.25, 0.5, 0.75, 1.0, 1.25])
    assert trio.current_time() - start == pytest.approx(1.25)


async def test_stall_is_silent_for_stall_s(autojump_clock: object) -> None:
    steps = _steps("sim/stall", stall_s=600, answer_words=1)
    frames = await _frame_times(steps)
    in_progress = next(t for t, f in frames if b"response.in_progress" in f)
    after = [t for t, f in frames if t > in_progress]
    assert in_progress == 0
    assert min(after) == pytest.approx(600)


async def test_stopping_drops_a_paused_stream_at_once(autojump_clock: object) -> None:
    stopping, ends = trio.Event(), list[bool]()
    steps = _steps("sim/stall", stall_s=3600)
    body = play_stream(steps, stopping, ends.append)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_set_later, stopping, 5.0)
        with pytest.raises(SimulatedDisconnectError):
            async for _ in body:
                pass
    assert trio.current_time() == pytest.approx(5.0)
    assert ends == [False]


async def _set_later(event: trio.Event, seconds: float) -> None:
    await trio.sleep(seconds)
    event.set()


def test_header_overrides_beat_metadata_overrides() -> None:
    base = Pacing.from_config(SimulatorConfig())
    body = {"metadata": {"sim_answer_words": "7", "sim_inter_delta_delay_s": "0.5"}}
    pacing = base.overridden({"X-Sim-Answer-Words": "3"}, body)
    assert (pacing.answer_words, pacing.inter_delta_delay_s) == (3, 0.5)


def test_negative_override_is_rejected() -> None:
    with pytest.raises(PacingOverrideError):
        Pacing.from_config(SimulatorConfig()).overridden({"X-Sim-First-Token-Delay": "-1"}, {})
