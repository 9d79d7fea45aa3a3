"""Admin-configured variants and presets through the real shim: listed by ``pipes()`` and
answered by ``pipe()`` under their own ids."""

from __future__ import annotations

import types
from typing import Any

import pytest

from tests.service.conftest import Sidecar
from tests.shim.harness import OwuiSide, chat_body, run_shim, streamed_text

VARIANTS = ["sim/text:nitro", "@preset/sim-default=sim/text"]


@pytest.fixture
def sidecar_overrides() -> dict[str, Any]:
    return {"models": {"variant_models": VARIANTS}}


async def test_pipes_lists_variants_and_presets_after_their_base(
    uds_pipe: Any, sidecar: Sidecar
) -> None:
    models = await run_shim(uds_pipe.pipes)
    ids = [model["id"] for model in models]
    base = ids.index("sim__text")
    assert ids[base + 1 : base + 3] == ["sim__text_3anitro", "_40preset__sim-default"]
    assert {"id": "sim__text_3anitro", "name": "Simulator: Text (nitro)"} in models


@pytest.mark.parametrize("slug", ["sim/text:nitro", "@preset/sim-default"])
async def test_a_variant_chat_is_answered(
    shim: types.ModuleType, uds_pipe: Any, sidecar: Sidecar, slug: str
) -> None:
    owui = OwuiSide()
    items = await run_shim(lambda: owui.invoke(uds_pipe, chat_body(shim, slug)))
    assert streamed_text(items).startswith("You said: hello there.")
