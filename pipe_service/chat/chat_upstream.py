"""One upstream run on ``/chat/completions``: the chat twin of the turn's ``/responses`` run.

The Responses payload is rewritten (:func:`responses_payload_to_chat`), sent, and what comes
back is translated by :class:`ChatCompletionsStreamTranslator` into the same turn events, with
the same error contract as the Responses run: an HTTP failure before the stream is one
:class:`TurnError`; a failure after it started is a :class:`Failed` event after the partial
output.

Synopsis::

    await run_chat_completions(request, client, payload, emit)
"""

from __future__ import annotations

from typing import Any, Final

from pipe_service.chat.events import Failed
from pipe_service.chat.translate_chat import (
    ChatCompletionsStreamTranslator,
    translate_chat_completion,
)
from pipe_service.chat.turn_request import Emit, TurnError, TurnRequest
from pipe_service.openrouter.chat_completions import responses_payload_to_chat
from pipe_service.openrouter.client import OpenRouterClient
from pipe_service.openrouter.errors import UpstreamError, UpstreamErrorKind
from pipe_service.openrouter.sse import SSEDecoder, SSEProtocolError

__all__ = ["MAX_CHAT_SSE_EVENT_BYTES", "run_chat_completions"]

MAX_CHAT_SSE_EVENT_BYTES: Final = 8 * 1024 * 1024


async def run_chat_completions(
    request: TurnRequest, client: OpenRouterClient, payload: dict[str, Any], emit: Emit
) -> None:
    """One ``/chat/completions`` call for ``payload``; events (or one TurnError) to ``emit``."""
    body = responses_payload_to_chat(payload)
    headers = dict(request.extra_headers)
    if not request.stream or request.task is not None:
        try:
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
    decoder = SSEDecoder(max_event_bytes=MAX_CHAT_SSE_EVENT_BYTES)
    try:
        stream_cm = client.stream_chat_completions(
            body, api_key=request.api_key, extra_headers=headers
        )
        async with stream_cm as upstream:
            done = False
            try:
                async for chunk in upstream.aiter_bytes():
                    for sse in decoder.feed(chunk):
                        if sse.is_done:
                            done = True  # chat streams end with [DONE], after the usage chunk
                            break
                        for event in translator.feed(sse.json()):
                            await emit(event)
                    if done or translator.finished:
                        break
            except (UpstreamError, SSEProtocolError) as exc:
                await emit(_failure(exc))
                return
    except UpstreamError as exc:
        await emit(TurnError(exc))
        return
    for event in translator.finish():
        await emit(event)


def _failure(exc: Exception) -> Failed:
    if isinstance(exc, UpstreamError):
        return Failed(
            code=exc.kind.value, message=exc.message, error_type=exc.error_type, response_id=None
        )
    return Failed(
        code=UpstreamErrorKind.STREAM_FAILED.value,
        message=f"OpenRouter sent a malformed stream: {exc}"[:300],
        error_type="protocol",
        response_id=None,
    )
