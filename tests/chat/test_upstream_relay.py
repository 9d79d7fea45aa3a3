"""The relay's one deadline: a waiting status while the provider is silent, kept fresh, and a
stall once not even a keep-alive byte arrives (virtual time, memory channels)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from pipe_service.chat.events import Status, TextDelta
from pipe_service.chat.translate import ResponsesStreamTranslator
from pipe_service.chat.turn_request import TurnOutput
from pipe_service.chat.upstream_relay import StallPolicy, relay_event_batches
from pipe_service.openrouter.errors import UpstreamError, UpstreamErrorKind
from tests.streaming.responses_events import message_events, numbered, preamble

POLICY = StallPolicy(status_after_s=5, status_every_s=5, stall_timeout_s=60)


class FakeUpstream:
    """Stands in for UpstreamStream's byte clock."""

    def __init__(self) -> None:
        self.last_byte_at = trio.current_time()


async def _relay(
    script: list[float | dict[str, Any] | str], policy: StallPolicy = POLICY
) -> tuple[list[tuple[float, TurnOutput]], BaseException | None]:
    """Play ``script`` (a float sleeps, "keepalive" moves the byte clock, a dict is an event)
    into the relay; return what it emitted, with virtual timestamps, and what it raised."""
    upstream = FakeUpstream()
    send, receive = trio.open_memory_channel[list[dict[str, Any]]](0)
    emitted: list[tuple[float, TurnOutput]] = []
    raised: list[BaseException] = []

    async def emit(item: TurnOutput) -> None:
        emitted.append((trio.current_time(), item))

    async def play() -> None:
        async with send:
            for step in script:
                if isinstance(step, float | int):
                    await trio.sleep(step)
                elif step == "keepalive":
                    upstream.last_byte_at = trio.current_time()
                else:
                    assert isinstance(step, dict)
                    upstream.last_byte_at = trio.current_time()
                    await send.send([step])  # one event per network read

    async with trio.open_nursery() as nursery:
        nursery.start_soon(play)
        try:
            await relay_event_batches(receive, upstream, ResponsesStreamTranslator(), emit, policy)
        except UpstreamError as exc:
            raised.append(exc)
        nursery.cancel_scope.cancel()
    return emitted, (raised[0] if raised else None)


def _statuses(emitted: list[tuple[float, TurnOutput]]) -> list[tuple[float, str, bool]]:
    return [(at, i.description, i.done) for at, i in emitted if isinstance(i, Status)]


async def test_silence_shows_a_waiting_status_refreshed_then_closed_when_output_comes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    events = numbered([*preamble(), *message_events(["Hi"])])
    emitted, raised = await _relay([events[0], 12.0, *events[1:]])
    assert raised is None
    assert _statuses(emitted) == [
        (5, "Waiting for the provider (5 s)…", False),
        (10, "Waiting for the provider (10 s)…", False),
        (12, "Waiting for the provider (10 s)…", True),
    ]
    assert [i for _, i in emitted if isinstance(i, TextDelta)] == [TextDelta("Hi")]


async def test_a_steady_stream_shows_no_status(autojump_clock: trio.testing.MockClock) -> None:
    events = numbered([*preamble(), *message_events(["a", "b", "c"])])
    paced: list[float | dict[str, Any] | str] = []
    for event in events:
        paced += [4.0, event]
    emitted, raised = await _relay(paced)
    assert raised is None
    assert _statuses(emitted) == []


async def test_no_byte_for_the_stall_limit_is_a_stall(
    autojump_clock: trio.testing.MockClock,
) -> None:
    events = numbered(preamble())
    emitted, raised = await _relay([*events, 1000.0])
    assert isinstance(raised, UpstreamError)
    assert raised.kind is UpstreamErrorKind.STALLED
    assert emitted[-1][0] <= 60
    assert trio.current_time() == 60


async def test_keep_alives_hold_off_the_stall_while_the_status_counts_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    events = numbered([*preamble(), *message_events(["late"])])
    thinking: list[float | dict[str, Any] | str] = [*events[:2]]
    thinking += [10.0, "keepalive"] * 12  # two minutes of keep-alives, no event
    emitted, raised = await _relay([*thinking, *events[2:]])
    assert raised is None
    descriptions = [text for _, text, done in _statuses(emitted) if not done]
    assert descriptions[0] == "Waiting for the provider (5 s)…"
    assert descriptions[-1] == "Waiting for the provider (120 s)…"
    assert [i for _, i in emitted if isinstance(i, TextDelta)] == [TextDelta("late")]


def test_policy_times_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        StallPolicy(stall_timeout_s=0)
