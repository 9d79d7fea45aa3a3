"""ASGI wrapper that shields the final body send (quart-trio 0.12 on hypercorn 0.18, trio worker).

Why: during the app's last ``send()``, hypercorn enqueues ``http.disconnect``; quart-trio then
cancels the request nursery, which aborts hypercorn's close / keep-alive bookkeeping still running
inside that ``send()``. Connections then never close (``Connection: close``, HTTP/1.0 streams,
idle keep-alive). Shielding only the final ``http.response.body`` message lets it complete
(reference trio-stack.md §7, pitfall 1). Generic: works for any ASGI app.

Synopsis::

    app.asgi_app = ShieldFinalSend(app.asgi_app)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import trio
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, ASGISendEvent, Scope

ASGIApp = Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]

# The shielded send is bounded: a client that stopped reading must not pin the task forever.
FINAL_SEND_LIMIT_S = 10.0


def is_final_body(message: Mapping[str, object]) -> bool:
    return message.get("type") == "http.response.body" and not message.get("more_body", False)


class ShieldFinalSend:
    """Wrap ``app`` so the last ``http.response.body`` send cannot be cancelled midway."""

    def __init__(self, app: ASGIApp, *, final_send_limit_s: float = FINAL_SEND_LIMIT_S) -> None:
        self.app = app
        self.final_send_limit_s = final_send_limit_s

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def shielded_send(message: ASGISendEvent) -> None:
            if is_final_body(message):
                with trio.move_on_after(self.final_send_limit_s, shield=True):
                    await send(message)
            else:
                await send(message)

        await self.app(scope, receive, shielded_send)
