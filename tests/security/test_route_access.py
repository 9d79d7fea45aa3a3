"""Who can reach which route on which listener (the table in docs/security.md).

Every route is tried on the Unix socket, on loopback TCP without a token, with a wrong token and
with the right one, against a live sidecar. The Unix socket is trusted by its file mode; on TCP
only ``/healthz`` answers without the token (loopback bind), everything else, unknown paths
included, is a 401 in OpenAI's JSON error shape.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio

from pipe_service.front.auth import TcpAccess, needs_token
from tests.service.conftest import Sidecar

ROUTES: list[tuple[str, str]] = [
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/status"),
    ("GET", "/metrics"),
    ("GET", "/v1/models"),
    ("POST", "/v1/chat/completions"),
    ("POST", "/admin/catalog/refresh"),
    ("POST", "/admin/fault/catalog"),
    ("POST", "/admin/settings"),
    ("POST", "/admin/reload"),
    ("GET", "/admin/models"),
    ("GET", "/no/such/route"),
]
TOKEN_FREE_ON_LOOPBACK_TCP = {"/healthz"}
CHAT = {"model": "sim/text", "messages": [{"role": "user", "content": "hi"}]}


async def _call(client: httpx.AsyncClient, method: str, path: str) -> httpx.Response:
    body: dict[str, Any] | None = CHAT if path == "/v1/chat/completions" else None
    with trio.fail_after(15):
        return await client.request(method, path, json=body)


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_the_unix_socket_reaches_every_route_without_a_token(
    sidecar: Sidecar, method: str, path: str
) -> None:
    async with sidecar.uds_client() as client:
        response = await _call(client, method, path)
    assert response.status_code != 401
    assert response.headers["content-type"].startswith(("application/json", "text/plain"))


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_tcp_without_the_token_reaches_only_liveness(
    sidecar: Sidecar, method: str, path: str
) -> None:
    async with sidecar.tcp_client(token=False) as client:
        response = await _call(client, method, path)
    if path in TOKEN_FREE_ON_LOOPBACK_TCP:
        assert response.status_code == 200
    else:
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_tcp_with_a_wrong_token_reaches_only_liveness(
    sidecar: Sidecar, method: str, path: str
) -> None:
    headers = {"Authorization": "Bearer wrong-token-0123456789abcdef"}
    async with httpx.AsyncClient(base_url=sidecar.base_url, headers=headers) as client:
        response = await _call(client, method, path)
    assert (response.status_code == 401) == (path not in TOKEN_FREE_ON_LOOPBACK_TCP)


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_tcp_with_the_token_reaches_every_route(
    sidecar: Sidecar, method: str, path: str
) -> None:
    async with sidecar.tcp_client() as client:
        response = await _call(client, method, path)
    assert response.status_code != 401


async def test_status_and_metrics_over_tcp_leak_nothing_without_the_token(
    sidecar: Sidecar,
) -> None:
    async with sidecar.tcp_client(token=False) as client:
        status = await _call(client, "GET", "/status")
        metrics = await _call(client, "GET", "/metrics")
    for response in (status, metrics):
        assert "actors" not in response.text
        assert "pipe_service_" not in response.text


def test_a_non_loopback_bind_needs_the_token_for_liveness_too() -> None:
    public = TcpAccess(token=None, loopback=False)
    loopback = TcpAccess(token=None, loopback=True)
    assert needs_token("/healthz", public)
    assert not needs_token("/healthz", loopback)
    assert needs_token("/status", loopback)
    assert needs_token("/v1/pipe", loopback)
