"""The retries that are safe before output: chat fallback and reasoning recovery, never after."""

from __future__ import annotations

from typing import Any

from pipe_service.chat.events import Completed, Failed, TextDelta
from pipe_service.chat.turn_request import TurnError, TurnRequest
from pipe_service.chat.upstream_relay import StallPolicy
from pipe_service.chat.upstream_route import looks_like_reasoning_rejected, run_routed_upstream
from pipe_service.openrouter.errors import UpstreamError, UpstreamErrorKind
from pipe_service.transform.options import TransformOptions
from tests.transform.models import model

UNSUPPORTED = UpstreamError(
    UpstreamErrorKind.BAD_REQUEST,
    "m is not supported on the Responses API; use /api/v1/chat/completions",
    status=400,
)
SIGNATURE = UpstreamError(
    UpstreamErrorKind.BAD_REQUEST,
    "Provider returned error",
    status=400,
    detail="messages.1.content.0: Invalid `signature` in `thinking` block",
)
CHAT_ANSWER = {
    "id": "gen-chat",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"content": "from chat"}}],
}
REASONING = {"type": "reasoning", "id": "r", "summary": [], "signature": "x"}


class ChatClient:
    """Answers /chat/completions (non-stream) and counts the calls."""

    def __init__(self) -> None:
        self.chat_calls: list[dict[str, Any]] = []

    async def create_chat_completion(self, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.chat_calls.append(body)
        return CHAT_ANSWER


def request(**options: Any) -> TurnRequest:
    return TurnRequest(
        body={}, model=model(slug="acme/m"), stream=False, options=TransformOptions(**options)
    )


def scripted(*runs: list[Any]) -> tuple[Any, list[dict[str, Any]]]:
    """A /responses runner playing one script per call; it records each payload."""
    payloads: list[dict[str, Any]] = []
    scripts = list(runs)

    async def run(_: TurnRequest, __: Any, payload: dict[str, Any], emit: Any) -> None:
        payloads.append(payload)
        for event in scripts.pop(0):
            await emit(event)

    return run, payloads


async def route(turn: TurnRequest, run: Any, client: ChatClient, payload: Any) -> list[Any]:
    out: list[Any] = []

    async def emit(event: Any) -> None:
        out.append(event)

    await run_routed_upstream(
        turn,
        client,  # type: ignore[arg-type]
        payload,
        emit,
        run_responses=run,
        stall=StallPolicy(),
    )
    return out


async def test_an_unsupported_refusal_before_output_falls_back_to_chat() -> None:
    client = ChatClient()
    run, _ = scripted([TurnError(UNSUPPORTED)])
    events = await route(request(), run, client, {"model": "acme/m", "input": "hi"})
    assert events[0] == TextDelta("from chat")
    assert isinstance(events[-1], Completed)
    assert len(client.chat_calls) == 1


async def test_an_unsupported_failure_after_output_is_not_retried() -> None:
    client = ChatClient()
    failed = Failed("400", UNSUPPORTED.message, None, None)
    run, _ = scripted([TextDelta("partial"), failed])
    events = await route(request(), run, client, {"model": "acme/m", "input": "hi"})
    assert events == [TextDelta("partial"), failed]
    assert client.chat_calls == []


async def test_no_fallback_when_it_is_switched_off() -> None:
    client = ChatClient()
    refusal = TurnError(UNSUPPORTED)
    run, _ = scripted([refusal])
    events = await route(
        request(auto_fallback_chat_completions=False), run, client, {"input": "hi"}
    )
    assert events == [refusal]
    assert client.chat_calls == []


async def test_other_errors_pass_through_untouched() -> None:
    client = ChatClient()
    limited = TurnError(UpstreamError(UpstreamErrorKind.RATE_LIMITED, "slow down", status=429))
    run, _ = scripted([limited])
    assert await route(request(), run, client, {"input": "hi"}) == [limited]


async def test_a_signature_refusal_is_retried_once_without_reasoning() -> None:
    client = ChatClient()
    run, payloads = scripted([TurnError(SIGNATURE)], [TextDelta("ok")])
    payload = {"input": [REASONING, {"role": "user", "content": "hi"}]}
    events = await route(request(), run, client, payload)
    assert events == [TextDelta("ok")]
    assert payloads[1]["input"] == [{"role": "user", "content": "hi"}]


async def test_a_second_signature_refusal_is_shown() -> None:
    client = ChatClient()
    second = TurnError(SIGNATURE)
    run, payloads = scripted([TurnError(SIGNATURE)], [second])
    events = await route(request(), run, client, {"input": [REASONING]})
    assert events == [second]
    assert len(payloads) == 2


async def test_a_signature_refusal_without_reasoning_to_drop_is_shown() -> None:
    refusal = TurnError(SIGNATURE)
    run, payloads = scripted([refusal])
    assert await route(request(), run, ChatClient(), {"input": []}) == [refusal]
    assert len(payloads) == 1


def test_signature_detection_needs_both_words() -> None:
    assert looks_like_reasoning_rejected(TurnError(SIGNATURE))
    plain = UpstreamError(UpstreamErrorKind.BAD_REQUEST, "invalid signature", status=400)
    assert not looks_like_reasoning_rejected(TurnError(plain))
    assert looks_like_reasoning_rejected(
        Failed("x", "thinking block signature invalid", None, None)
    )


async def test_after_a_fallback_the_turns_later_runs_go_straight_to_chat() -> None:
    client = ChatClient()
    run, payloads = scripted([TurnError(UNSUPPORTED)])
    turn = request()
    await route(turn, run, client, {"input": "first"})
    await route(turn, run, client, {"input": "after the tool"})
    assert len(payloads) == 1  # /responses was asked once
    assert [call["messages"][-1]["content"] for call in client.chat_calls] == [
        "first",
        "after the tool",
    ]
