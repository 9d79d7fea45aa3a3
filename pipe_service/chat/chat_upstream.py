"""One upstream run on ``/chat/completions``: the chat twin of the turn's ``/responses`` run.

The Responses payload is rewritten (:func:`responses_payload_to_chat`), sent, and what comes
back is translated by :class:`ChatCompletionsStreamTranslator` into the same turn events, with
the same error contract as the Responses run: an HTTP failure before the stream is one
:class:`TurnError`; a failure after it started is a :class:`Failed` event after the partial
output. The stream goes through the same path as a Responses stream: the one SSE decoder
(:func:`iter_sse_json_batches`, which stops at ``[DONE]``) and the one relay
(:func:`relay_event_batches`: the waiting status and the stall deadline).

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
from pipe_service.chat.upstream_relay import StallPolicy, relay_upstream_stream
from pipe_service.openrouter.chat_completions import responses_payload_to_chat
from pipe_service.openrouter.client import OpenRouterClient
from pipe_service.openrouter.errors import UpstreamError
from pipe_service.telemetry.trace import time_phase

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
    stream_cm = client.stream_chat_completions(body, api_key=request.api_key, extra_headers=headers)
    await relay_upstream_stream(stream_cm, ChatCompletionsStreamTranslator(), emit, stall)
