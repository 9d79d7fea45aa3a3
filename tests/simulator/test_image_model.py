"""``sim/image``: the image-output model draws a PNG when asked for the image modality."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import trio

from pipe_service.media.inline import sniff_mime
from tests.simulator.conftest import read_sse

DRAW = {
    "model": "sim/image",
    "modalities": ["image", "text"],
    "input": [{"role": "user", "content": "a red fox"}],
}


async def test_an_image_request_streams_an_image_generation_call_then_a_caption(
    client: httpx.AsyncClient,
) -> None:
    with trio.fail_after(10):
        stream = await read_sse(client, DRAW)
    image_events = [t for t in stream.types if "image_generation_call" in t]
    assert image_events == [
        "response.image_generation_call.in_progress",
        "response.image_generation_call.generating",
        "response.image_generation_call.completed",
    ]
    added = stream.of_type("response.output_item.added")[0]["item"]
    assert (added["type"], added["status"]) == ("image_generation_call", "in_progress")
    done = stream.of_type("response.output_item.done")[0]["item"]
    assert done["id"].startswith("ig_tmp_")
    assert done["status"] == "completed"
    assert sniff_mime(base64.b64decode(done["result"])) == "image/png"
    assert stream.of_type("response.output_text.done")[0]["text"] == "Here is a red fox."
    final = stream.terminal["response"]
    assert [item["type"] for item in final["output"]] == ["image_generation_call", "message"]


async def test_the_same_prompt_draws_the_same_image(client: httpx.AsyncClient) -> None:
    results: list[Any] = []
    for _ in range(2):
        response = await client.post("/responses", json=DRAW)
        results.append(response.json()["output"][0]["result"])
    assert results[0] == results[1]


async def test_without_the_image_modality_it_answers_in_text_only(
    client: httpx.AsyncClient,
) -> None:
    body = {key: value for key, value in DRAW.items() if key != "modalities"}
    response = await client.post("/responses", json=body)
    output = response.json()["output"]
    assert [item["type"] for item in output] == ["message"]
    assert "modalities" in output[0]["content"][0]["text"]


async def test_the_image_model_outputs_text_too_so_the_default_listing_has_it(
    client: httpx.AsyncClient,
) -> None:
    default = {row["id"] for row in (await client.get("/models")).json()["data"]}
    images = (await client.get("/models", params={"output_modalities": "image"})).json()["data"]
    assert "sim/image" in default
    assert [row["id"] for row in images] == ["sim/image"]
