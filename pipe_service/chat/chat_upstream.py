"""One upstream run on ``/chat/completions``: the chat twin of the turn's ``/responses`` run.

The Responses payload is rewritten (:func:`responses_payload_to_chat`), sent, and what comes
back is translated by :class:`ChatCompletionsStreamTranslator` into the same turn events, with
the same error contract as the Responses run: an HTTP failure before the stream is one
:class:`TurnError`; a failure after it started is a :class:`Failed` event after the partial
output. The stream goes through the same path as a Responses stream: the one SSE decoder
(:func:`iter_sse_json`, which stops at ``[DONE]``) and the one relay
(:func:`relay_events`: the waiting status and the stall deadline).

Synopsis::

    await run_chat_completions(request, client, payload, emit, stall=StallPolicy())
"""

from __future__ import annotations

from typing import Any

from pipe_service.chat.translate_chat import (
    ChatCompletionsStreamTranslator,
    translate_chat_completion,
)
from pipe_service.chat.turn_request import Emit, TurnError, TurnRequest
from pipe_service.chat.upstream_relay import StallPolicy, mid_stream_failure, relay_events
from pipe_service.openrouter.chat_completions import responses_payload_to_chat
from pipe_service.openrouter.client import OpenRouterClient
from pipe_service.openrouter.errors import UpstreamError
from pipe_service.openrouter.sse import SSEProtocolError, iter_sse_json
from pipe_service.telemetry.trace import phase_timer, time_phase

__all__ = ["run_chat_completions"]


async def run_chat_completions(
    request: TurnRequest,
    client: OpenRouterClient,
    payload: dict[str, Any],
    emit: Emit,
    *,
    stall: StallPolicy,
) -> None:
    """One ``/chat/completions`` call for ``payload``; events (or one TurnError) to ``emit``."""
    body = responses_payload_to_chat(payload)
    headers = dict(request.extra_headers)
    if not request.stream or request.task is not None:
        try:
            with time_phase("upstream_connect"):
                completion = await client.create_chat_completion(
                    body, api_key=request.api_key, extra_headers=headers
                )
        except UpstreamError as exc:
            await emit(TurnError(exc))
            return
        for event in translate_chat_completion(completion):
            await emit(event)
        return
    translator = ChatCompletionsStreamTranslator()
    try:
        stream_cm = client.stream_chat_completions(
            body, api_key=request.api_key, extra_headers=headers
        )
        connect = phase_timer("upstream_connect")
        async with stream_cm as upstream:
            connect.stop()
            try:
                async with iter_sse_json(
                    upstream.aiter_bytes(), max_event_bytes=stall.max_event_bytes
                ) as events:
                    await relay_events(events, upstream, translator, emit, stall)
            except (UpstreamError, SSEProtocolError) as exc:
                await emit(mid_stream_failure(exc))
                return
    except UpstreamError as exc:
        await emit(TurnError(exc))
        return
    for event in translator.finish():
        await emit(event)
