"""Re-hosting linked images: an image the answer links to is downloaded (SSRF-guarded) and
saved in Open WebUI through ``store_file`` before ``done``; a refused link is told."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from tests.fetch.conftest import CountingServer, http_server, response
from tests.pipe_protocol.conftest import open_shim, request_frame
from tests.service.conftest import Sidecar

__all__ = ["http_server"]

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24


@pytest.fixture
async def sidecar_overrides(http_server: CountingServer) -> dict[str, Any]:
    entry = f"127.0.0.1:{http_server.port}"
    return {
        "media": {
            "rehost_linked_images": True,
            "allow_http_hosts": [entry],
            "trusted_hosts": [entry],
        }
    }


def echo_request(text: str) -> dict[str, Any]:
    # sim/text answers "You said: <the first words>.", so the link comes back in the answer.
    return request_frame("sim/text", body={"messages": [{"role": "user", "content": text}]})


async def test_a_linked_image_is_saved_through_the_shim_before_done(
    sidecar: Sidecar, http_server: CountingServer
) -> None:
    http_server.routes["/fox.png"] = response(200, PNG, {"Content-Type": "image/png"})
    link = f"![fox]({http_server.url('/fox.png')})"
    with trio.fail_after(10):
        async with open_shim(sidecar) as shim:
            await shim.hello()
            await shim.send(echo_request(link))
            store = await shim.receive_until("store_file")
            await shim.send({"type": "file_stored", "call_id": store["call_id"], "error": "no"})
            session = await shim.until_closed()
    assert store["name"] == "linked-image-1.png"
    assert store["content_type"] == "image/png"
    assert session.last["type"] == "done"
    assert http_server.paths == ["/fox.png"]


async def test_a_link_into_private_space_is_not_fetched_and_is_told(
    sidecar: Sidecar, http_server: CountingServer
) -> None:
    with trio.fail_after(10):
        async with open_shim(sidecar) as shim:
            await shim.hello()
            await shim.send(echo_request("![x](https://169.254.169.254/latest/meta-data/)"))
            session = await shim.until_closed()
    described = [
        frame["event"]["data"]["description"]
        for frame in session.of_type("event")
        if frame["event"]["type"] == "status"
    ]
    assert "⚠️ linked image from https://169.254.169.254:443 not kept: refused (cloud_metadata)" in (
        described
    )
    assert session.of_type("store_file") == []
    assert session.last["type"] == "done"
