"""``pipes()``: the sidecar's catalog as manifold entries, cached, with failover and a clear
entry when no sidecar answers."""

from __future__ import annotations

import os
import time
import types
from pathlib import Path
from typing import Any

import pytest

from tests.service.conftest import Sidecar, free_port
from tests.shim.conftest import uds_address
from tests.shim.harness import OwuiSide, chat_body, run_shim, streamed_text

TOKEN = "shim-test-token-0123456789"


def _dead_addresses(tmp_path: Path) -> list[str]:
    return [f"unix:{tmp_path / 'nobody-listens.sock'}", f"http://127.0.0.1:{free_port()}"]


def _pipe(shim: types.ModuleType, addresses: str, **valves: Any) -> Any:
    pipe = shim.Pipe()
    pipe.valves = shim.Pipe.Valves(SIDECAR_ADDRESSES=addresses, **valves)
    return pipe


async def test_lists_the_sidecar_models_over_the_unix_socket(
    shim: types.ModuleType, sidecar: Sidecar
) -> None:
    models = await run_shim(_pipe(shim, uds_address(sidecar)).pipes)
    assert {"id": "sim__text", "name": "Simulator: Text"} in models
    assert {"id": "sim__text_3afree", "name": "Simulator: Text (free)"} in models


async def test_lists_the_sidecar_models_over_tcp(shim: types.ModuleType, sidecar: Sidecar) -> None:
    models = await run_shim(_pipe(shim, sidecar.base_url, SIDECAR_TOKEN=sidecar.api_token).pipes)
    assert {"id": "sim__tool-call", "name": "Simulator: Tool calls"} in models


async def test_models_are_cached_for_the_ttl(shim: types.ModuleType, sidecar: Sidecar) -> None:
    pipe = _pipe(shim, uds_address(sidecar), MODEL_CACHE_TTL_S=3600)
    fetches: list[str] = []
    fetch = pipe._fetch_models

    async def counting_fetch(address: Any) -> Any:
        fetches.append(address.text)
        return await fetch(address)

    pipe._fetch_models = counting_fetch
    first = await run_shim(pipe.pipes)
    second = await run_shim(pipe.pipes)
    assert first == second
    assert len(fetches) == 1


async def test_unreachable_sidecars_give_one_entry_naming_them_quickly(
    shim: types.ModuleType, tmp_path: Path
) -> None:
    dead = _dead_addresses(tmp_path)
    started = time.monotonic()
    models = await run_shim(_pipe(shim, ",".join(dead)).pipes)
    assert time.monotonic() - started < 5
    assert len(models) == 1
    name = models[0]["name"]
    assert name.startswith(f"pipe-service sidecar unreachable ({dead[0]}, {dead[1]}): ")
    assert "No such file or directory" in name
    assert "onnect" in name  # "Cannot connect to host …" for the closed port


async def test_fails_over_to_the_next_address(
    shim: types.ModuleType, sidecar: Sidecar, tmp_path: Path
) -> None:
    addresses = ",".join([*_dead_addresses(tmp_path), uds_address(sidecar)])
    models = await run_shim(_pipe(shim, addresses).pipes)
    assert {"id": "sim__text", "name": "Simulator: Text"} in models


async def test_a_stale_list_is_kept_when_the_sidecar_goes_away(
    shim: types.ModuleType, sidecar: Sidecar
) -> None:
    pipe = _pipe(shim, uds_address(sidecar), MODEL_CACHE_TTL_S=0)
    before = await run_shim(pipe.pipes)
    os.unlink(sidecar.settings.effective_socket_path)  # new connections now fail
    after = await run_shim(pipe.pipes)
    assert after == before
    assert all("unreachable" not in model["name"] for model in after)


@pytest.mark.parametrize("sidecar_overrides", [{"api_token": TOKEN}])
async def test_tcp_sends_the_bearer_token(shim: types.ModuleType, sidecar: Sidecar) -> None:
    models = await run_shim(_pipe(shim, sidecar.base_url, SIDECAR_TOKEN=TOKEN).pipes)
    assert {"id": "sim__text", "name": "Simulator: Text"} in models


@pytest.mark.parametrize("sidecar_overrides", [{"api_token": TOKEN}])
async def test_an_encrypted_token_is_decrypted_for_the_sidecar(
    shim: types.ModuleType, sidecar: Sidecar, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBUI_SECRET_KEY", "e2e-secret")
    pipe = _pipe(shim, sidecar.base_url, SIDECAR_TOKEN=TOKEN)
    assert pipe.valves.SIDECAR_TOKEN.startswith("encrypted:")
    models = await run_shim(pipe.pipes)
    assert {"id": "sim__text", "name": "Simulator: Text"} in models
    chat = await run_shim(lambda: OwuiSide().invoke(pipe, chat_body(shim, "sim/text")))
    assert streamed_text(chat).startswith("You said:")


@pytest.mark.parametrize("sidecar_overrides", [{"api_token": TOKEN}])
async def test_a_missing_token_is_named_in_the_entry(
    shim: types.ModuleType, sidecar: Sidecar
) -> None:
    models = await run_shim(_pipe(shim, sidecar.base_url).pipes)
    assert len(models) == 1
    assert "HTTP 401" in models[0]["name"]
