"""Media over the shim protocol: what reaches the (simulated) upstream, what the user is told,
and generated images saved through ``store_file`` / ``file_stored``."""

from __future__ import annotations

import base64
import json
from typing import Any

import trio

from pipe_service.media.inline import sniff_mime
from tests.pipe_protocol.conftest import open_shim, request_frame, run_request
from tests.service.conftest import Sidecar

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"


def data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


async def upstream_bodies(sidecar: Sidecar) -> list[dict[str, Any]]:
    async with sidecar.simulator_client() as client:
        records = (await client.get("/_sim/requests")).json()
    return [record["body"] for record in records["data"]]


def statuses(session: Any) -> list[str]:
    return [
        frame["event"]["data"]["description"]
        for frame in session.of_type("event")
        if frame["event"]["type"] == "status"
    ]


async def test_a_metadata_image_url_never_reaches_upstream_and_the_user_is_told(
    sidecar: Sidecar,
) -> None:
    content = [
        {"type": "text", "text": "what are these?"},
        {"type": "image_url", "image_url": {"url": data_url("image/png", PNG)}},
        {"type": "image_url", "image_url": {"url": "https://169.254.169.254/latest/meta-data/"}},
    ]
    request = request_frame("sim/vision", body={"messages": [{"role": "user", "content": content}]})
    with trio.fail_after(10):
        session = await run_request(sidecar, request)
    assert session.last["type"] == "done"
    assert session.text.startswith("Received 1 image(s)")
    sent = (await upstream_bodies(sidecar))[-1]["input"][0]["content"]
    assert [part["type"] for part in sent] == ["input_text", "input_image", "input_text"]
    assert sent[1]["image_url"] == data_url("image/png", PNG)
    assert "169.254.169.254" not in str(sent)
    assert any("refused (cloud_metadata)" in line for line in statuses(session))


async def test_an_attached_pdf_reaches_upstream_as_an_input_file(sidecar: Sidecar) -> None:
    attachment = {
        "type": "file",
        "id": "file-1",
        "name": "report.pdf",
        "content_type": "application/pdf",
        "data_b64": base64.b64encode(PDF).decode(),
    }
    request = request_frame("sim/vision", files=[attachment])
    with trio.fail_after(10):
        session = await run_request(sidecar, request)
    assert session.text.startswith("Received 0 image(s) and 1 file(s): report.pdf.")
    sent = (await upstream_bodies(sidecar))[-1]["input"][0]["content"]
    assert sent[-1] == {
        "type": "input_file",
        "filename": "report.pdf",
        "file_data": data_url("application/pdf", PDF),
    }


async def test_an_attachment_that_is_not_base64_is_an_invalid_request(sidecar: Sidecar) -> None:
    request = request_frame("sim/vision", files=[{"name": "a.pdf", "data_b64": 42}])
    session = await run_request(sidecar, request)
    assert session.last["type"] == "error"
    assert session.last["code"] == "invalid_request"
    assert "files[0].data_b64" in session.last["message"]


async def test_a_generated_image_is_stored_through_the_shim(sidecar: Sidecar) -> None:
    body = {"messages": [{"role": "user", "content": "a red fox"}]}
    with trio.fail_after(10):
        async with open_shim(sidecar) as shim:
            await shim.hello()
            await shim.send(request_frame("sim/image", body=body))
            store = await shim.receive_until("store_file")
            await shim.send(
                {
                    "type": "file_stored",
                    "call_id": store["call_id"],
                    "file": {
                        "id": "f-1",
                        "url": "/api/v1/files/f-1/content",
                        "name": store["name"],
                        "content_type": store["content_type"],
                    },
                }
            )
            session = await shim.until_closed()
    assert store["name"] == "generated-image-1.png"
    assert store["content_type"] == "image/png"
    assert sniff_mime(base64.b64decode(store["data_b64"])) == "image/png"
    assert session.last["type"] == "done"
    assert "Here is a red fox." in session.text
    sent = (await upstream_bodies(sidecar))[-1]
    assert sent["modalities"] == ["image", "text"]


async def test_a_store_the_shim_refuses_is_told_and_the_answer_goes_on(sidecar: Sidecar) -> None:
    body = {"messages": [{"role": "user", "content": "a red fox"}]}
    with trio.fail_after(10):
        async with open_shim(sidecar) as shim:
            await shim.hello()
            await shim.send(request_frame("sim/image", body=body))
            store = await shim.receive_until("store_file")
            await shim.send(
                {"type": "file_stored", "call_id": store["call_id"], "error": "disk full"}
            )
            session = await shim.until_closed()
    assert session.last["type"] == "done"
    assert "⚠️ The generated image could not be saved: disk full" in statuses(session)


async def test_the_openai_api_returns_generated_images_in_message_images(
    sidecar: Sidecar,
) -> None:
    body = {"model": "sim/image", "messages": [{"role": "user", "content": "a red fox"}]}
    async with sidecar.uds_client() as client:
        response = await client.post("/v1/chat/completions", json=body)
    message = response.json()["choices"][0]["message"]
    assert message["content"] == "Here is a red fox."
    [image] = message["images"]
    assert image["type"] == "image_url"
    assert image["image_url"]["url"].startswith("data:image/png;base64,iVBORw0KGgo")


async def test_the_openai_api_streams_generated_images_as_delta_images(sidecar: Sidecar) -> None:
    body = {
        "model": "sim/image",
        "stream": True,
        "messages": [{"role": "user", "content": "a red fox"}],
    }
    images: list[dict[str, Any]] = []
    async with (
        sidecar.uds_client() as client,
        client.stream("POST", "/v1/chat/completions", json=body) as response,
    ):
        async for line in response.aiter_lines():
            if line.startswith("data: {"):
                chunk = json.loads(line.removeprefix("data: "))
                for choice in chunk["choices"]:
                    images += choice["delta"].get("images", [])
    [image] = images
    assert image["image_url"]["url"].startswith("data:image/png;base64,")


async def test_an_attached_pdf_gets_the_configured_file_parser(sidecar: Sidecar) -> None:
    attachment = {
        "name": "report.pdf",
        "content_type": "application/pdf",
        "data_b64": base64.b64encode(PDF).decode(),
    }
    request = request_frame(
        "sim/vision", files=[attachment], valves={"file_parser_engine": "mistral-ocr"}
    )
    with trio.fail_after(10):
        session = await run_request(sidecar, request)
    assert session.last["type"] == "done"
    sent = (await upstream_bodies(sidecar))[-1]
    assert sent["plugins"] == [{"id": "file-parser", "pdf": {"engine": "mistral-ocr"}}]
