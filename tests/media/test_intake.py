"""Media intake: images, files, audio, video and attachments made safe before the upstream call."""

from __future__ import annotations

import base64
import ipaddress
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from pipe_service.catalog.capabilities import ModelCapabilities
from pipe_service.fetch.fetcher import RemoteFetcher
from pipe_service.fetch.ssrf_guard import ValidatedTarget
from pipe_service.media.intake import Attachment, MediaIntake, MediaRefusedError
from pipe_service.media.settings import MediaSettings
from tests.fetch.conftest import MapResolver

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 16
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 16

VISION = ModelCapabilities(slug="acme/vision", name="Vision", input_image=True)
EVERYTHING = ModelCapabilities(
    slug="acme/omni",
    name="Omni",
    input_image=True,
    input_file=True,
    input_audio=True,
    input_video=True,
)
TEXT_ONLY = ModelCapabilities(slug="acme/text", name="Text")

PUBLIC = ipaddress.ip_address("93.184.216.34")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{b64(data)}"


def image(url: str) -> dict[str, Any]:
    return {"type": "input_image", "image_url": url, "detail": "auto"}


def user(*parts: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "hi"}, *parts],
    }


def payload(*items: dict[str, Any]) -> dict[str, Any]:
    return {"model": "acme/vision", "input": list(items)}


class _Remote:
    """A fake internet for the fetcher: one public host serving fixed responses."""

    def __init__(self, routes: dict[str, httpx.Response]) -> None:
        self.routes = routes
        self.requested: list[str] = []

    def transport(self, target: ValidatedTarget, budget: int) -> httpx.AsyncBaseTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            self.requested.append(str(request.url))
            return self.routes.get(request.url.path, httpx.Response(404))

        return httpx.MockTransport(handle)


def intake(remote: _Remote | None = None, **settings: Any) -> MediaIntake:
    remote = remote or _Remote({})
    media = MediaSettings(**settings)
    fetcher = RemoteFetcher(
        media.fetch_limits(),
        media.url_policy(),
        MapResolver({"images.example": [PUBLIC]}),
        transport_factory=remote.transport,
    )
    return MediaIntake(media, fetcher)


def parts_of(prepared: dict[str, Any], index: int = -1) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = prepared["input"][index]["content"]
    return content


# -- images ------------------------------------------------------------------------------------


async def test_a_valid_inline_image_is_sent_unchanged() -> None:
    url = data_url("image/png", PNG)
    prepared = await intake().prepare(payload(user(image(url))), model=VISION)
    assert parts_of(prepared.payload)[1] == image(url)
    assert prepared.notes == ()


async def test_an_oversized_inline_image_is_dropped_with_a_note() -> None:
    url = data_url("image/png", PNG + b"\x00" * (2 * 1024 * 1024))
    prepared = await intake(inline_max_mb=1).prepare(payload(user(image(url))), model=VISION)
    assert parts_of(prepared.payload)[1] == {"type": "input_text", "text": "[image not sent]"}
    assert len(prepared.notes) == 1
    assert "an image was not sent" in prepared.notes[0]
    assert "over 1.0 MB" in prepared.notes[0]


async def test_a_malformed_inline_image_fails_the_request_when_the_policy_says_so() -> None:
    with pytest.raises(MediaRefusedError, match="not valid base64"):
        await intake(invalid_inline="fail").prepare(
            payload(user(image("data:image/png;base64,@@@@"))), model=VISION
        )


async def test_a_remote_image_is_downloaded_and_sent_inline() -> None:
    remote = _Remote(
        {"/cat.png": httpx.Response(200, content=PNG, headers={"content-type": "image/png"})}
    )
    prepared = await intake(remote).prepare(
        payload(user(image("https://images.example/cat.png"))), model=VISION
    )
    assert parts_of(prepared.payload)[1]["image_url"] == data_url("image/png", PNG)
    assert remote.requested == ["https://images.example/cat.png"]


async def test_a_metadata_image_url_is_dropped_without_a_request() -> None:
    remote = _Remote({})
    prepared = await intake(remote).prepare(
        payload(user(image("https://169.254.169.254/latest/meta-data/"))), model=VISION
    )
    assert parts_of(prepared.payload)[1]["type"] == "input_text"
    assert prepared.notes == (
        "image from https://169.254.169.254:443 was not sent: refused (cloud_metadata)",
    )
    assert remote.requested == []


async def test_a_remote_url_serving_no_image_is_dropped() -> None:
    remote = _Remote(
        {"/x": httpx.Response(200, content=b"<html>", headers={"content-type": "image/png"})}
    )
    prepared = await intake(remote).prepare(
        payload(user(image("https://images.example/x"))), model=VISION
    )
    assert "expected image data" in prepared.notes[0]


async def test_with_inlining_off_a_safe_remote_image_passes_through() -> None:
    remote = _Remote({})
    prepared = await intake(remote, inline_remote_images=False).prepare(
        payload(user(image("https://images.example/cat.png"))), model=VISION
    )
    assert parts_of(prepared.payload)[1]["image_url"] == "https://images.example/cat.png"
    assert remote.requested == []


async def test_only_the_newest_images_within_the_cap_are_sent() -> None:
    urls = [data_url("image/png", PNG + bytes([n])) for n in range(4)]
    body = payload(user(image(urls[0]), image(urls[1])), user(image(urls[2]), image(urls[3])))
    prepared = await intake(max_images_per_request=3).prepare(body, model=VISION)
    first, second = parts_of(prepared.payload, 0), parts_of(prepared.payload, 1)
    assert first[1] == {"type": "input_text", "text": "[older image not sent]"}
    assert [first[2]["image_url"], second[1]["image_url"], second[2]["image_url"]] == urls[1:]
    assert prepared.notes == ("1 older image(s) not sent: at most 3 images per request",)


async def test_last_user_turn_selection_sends_only_the_latest_messages_images() -> None:
    old, new = data_url("image/png", PNG + b"a"), data_url("image/png", PNG + b"b")
    body = payload(user(image(old)), user(image(new)))
    prepared = await intake(image_selection="last_user_turn").prepare(body, model=VISION)
    assert parts_of(prepared.payload, 0)[1]["text"] == "[earlier image not sent]"
    assert parts_of(prepared.payload, 1)[1]["image_url"] == new
    assert "from earlier messages" in prepared.notes[0]


async def test_images_replaced_for_a_text_only_model_are_reported() -> None:
    placeholder = {"type": "input_text", "text": "[image omitted: this model cannot read image]"}
    prepared = await intake().prepare(payload(user(placeholder)), model=TEXT_ONLY)
    assert prepared.notes == ("1 image(s) not sent: acme/text cannot read image",)


# -- files -------------------------------------------------------------------------------------


async def test_bare_base64_file_data_becomes_a_data_url_with_a_filename() -> None:
    part = {"type": "input_file", "file_data": b64(PDF)}
    prepared = await intake().prepare(payload(user(part)), model=TEXT_ONLY)
    assert parts_of(prepared.payload)[1] == {
        "type": "input_file",
        "file_data": data_url("application/pdf", PDF),
        "filename": "document.pdf",
    }


async def test_a_non_pdf_file_for_a_model_without_file_input_is_dropped() -> None:
    part = {"type": "input_file", "file_data": data_url("text/csv", b"a,b\n"), "filename": "t.csv"}
    prepared = await intake().prepare(payload(user(part)), model=TEXT_ONLY)
    assert parts_of(prepared.payload)[1]["type"] == "input_text"
    assert prepared.notes[0].startswith("t.csv was not sent: acme/text cannot read files")


async def test_a_file_url_into_private_space_is_dropped() -> None:
    part = {"type": "input_file", "file_url": "https://10.0.0.8/report.pdf", "filename": "r.pdf"}
    prepared = await intake().prepare(payload(user(part)), model=EVERYTHING)
    assert prepared.notes == ("r.pdf from https://10.0.0.8:443 was not sent: refused (private)",)


# -- audio and video ---------------------------------------------------------------------------


async def test_valid_wav_audio_is_sent() -> None:
    part = {"type": "input_audio", "input_audio": {"data": b64(WAV), "format": "wav"}}
    prepared = await intake().prepare(payload(user(part)), model=EVERYTHING)
    assert parts_of(prepared.payload)[1] == part


async def test_audio_whose_bytes_contradict_its_format_is_dropped() -> None:
    part = {"type": "input_audio", "input_audio": {"data": b64(WAV), "format": "mp3"}}
    prepared = await intake().prepare(payload(user(part)), model=EVERYTHING)
    assert parts_of(prepared.payload)[1]["type"] == "input_text"
    assert "labelled mp3 but holds wav" in prepared.notes[0]


async def test_an_inline_video_over_the_video_cap_is_dropped() -> None:
    part = {"type": "input_video", "video_url": data_url("video/mp4", MP4 + b"\x00" * (1 << 21))}
    prepared = await intake(video_max_mb=1).prepare(payload(user(part)), model=EVERYTHING)
    assert "a video was not sent" in prepared.notes[0]


async def test_a_video_url_is_checked_but_passed_through() -> None:
    part = {"type": "input_video", "video_url": "https://images.example/clip.mp4"}
    prepared = await intake().prepare(payload(user(part)), model=EVERYTHING)
    assert parts_of(prepared.payload)[1] == part


# -- attachments (direct uploads) --------------------------------------------------------------


async def test_attachments_become_native_parts_of_the_last_user_message() -> None:
    attachments = [
        Attachment(name="report.pdf", content_type="application/pdf", data_b64=b64(PDF)),
        Attachment(name="voice.wav", content_type="audio/wav", data_b64=b64(WAV)),
        Attachment(name="clip.mp4", content_type="video/mp4", data_b64=b64(MP4)),
    ]
    prepared = await intake().prepare(
        payload(user(), user()), model=EVERYTHING, attachments=attachments
    )
    assert parts_of(prepared.payload, 0) == [{"type": "input_text", "text": "hi"}]
    assert parts_of(prepared.payload, 1)[1:] == [
        {
            "type": "input_file",
            "filename": "report.pdf",
            "file_data": data_url("application/pdf", PDF),
        },
        {"type": "input_audio", "input_audio": {"data": b64(WAV), "format": "wav"}},
        {"type": "input_video", "video_url": data_url("video/mp4", MP4)},
    ]
    assert prepared.notes == ()


async def test_an_attachment_the_model_cannot_take_is_dropped_with_a_note() -> None:
    attachments = [Attachment(name="voice.wav", content_type="audio/wav", data_b64=b64(WAV))]
    prepared = await intake().prepare(payload(user()), model=VISION, attachments=attachments)
    assert parts_of(prepared.payload) == [{"type": "input_text", "text": "hi"}]
    assert prepared.notes == ("📎 voice.wav not sent: acme/vision cannot read audio",)


async def test_the_input_payload_is_not_modified_in_place() -> None:
    original = payload(user(image("https://169.254.169.254/")))
    snapshot = repr(original)
    await intake().prepare(original, model=VISION)
    assert repr(original) == snapshot


async def test_attachments_without_a_user_message_are_reported() -> None:
    attachments = [Attachment(name="r.pdf", content_type="application/pdf", data_b64=b64(PDF))]
    assistant = {"type": "message", "role": "assistant", "content": []}
    prepared = await intake().prepare(payload(assistant), model=EVERYTHING, attachments=attachments)
    assert prepared.notes == ("📎 r.pdf not sent: the request has no user message",)


async def test_remote_images_are_downloaded_concurrently(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def slow_png(request: httpx.Request) -> httpx.Response:
        await trio.sleep(1)
        return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})

    media = MediaSettings()
    fetcher = RemoteFetcher(
        media.fetch_limits(),
        media.url_policy(),
        MapResolver({"images.example": [PUBLIC]}),
        transport_factory=lambda target, budget: httpx.MockTransport(slow_png),
    )
    body = payload(
        user(image("https://images.example/1.png")),
        user(image("https://images.example/2.png"), image("https://images.example/3.png")),
    )
    start = trio.current_time()
    prepared = await MediaIntake(media, fetcher).prepare(body, model=VISION)
    assert trio.current_time() - start == 1.0
    sent = [part["image_url"] for item in prepared.payload["input"] for part in item["content"][1:]]
    assert sent == [data_url("image/png", PNG)] * 3


async def test_notes_keep_the_order_of_the_parts() -> None:
    body = payload(
        user(image("https://10.0.0.1/a.png"), image("data:image/png;base64,@@@@")),
        user(image("https://169.254.169.254/b.png")),
    )
    prepared = await intake().prepare(body, model=VISION)
    assert [note.split(" ")[-1] for note in prepared.notes] == [
        "(private)",
        "padding)",
        "(cloud_metadata)",
    ]


async def test_an_image_that_cannot_be_downloaded_is_dropped_with_the_reason() -> None:
    prepared = await intake(_Remote({})).prepare(
        payload(user(image("https://images.example/gone.png"))), model=VISION
    )
    assert prepared.notes == ("an image could not be downloaded: HTTP 404",)
