"""Generated images: a finished ``image_generation_call`` item becomes a ``GeneratedImage``."""

from __future__ import annotations

import base64

from pipe_service.chat.events import GeneratedImage, Status
from pipe_service.chat.translate import ResponsesStreamTranslator, translate_response

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 40


def image_item(result: str, item_id: str = "ig_1") -> dict[str, object]:
    return {"id": item_id, "type": "image_generation_call", "status": "completed", "result": result}


def test_a_streamed_image_item_gives_statuses_and_the_image() -> None:
    translator = ResponsesStreamTranslator()
    added = translator.feed(
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"id": "ig_1", "type": "image_generation_call", "status": "in_progress"},
        }
    )
    progress = translator.feed(
        {"type": "response.image_generation_call.generating", "output_index": 0, "item_id": "ig_1"}
    )
    encoded = base64.b64encode(PNG).decode()
    done = translator.feed(
        {"type": "response.output_item.done", "output_index": 0, "item": image_item(encoded)}
    )
    assert added == [Status("Generating an image…", done=False)]
    assert progress == []
    assert done == [
        Status("Generated an image", done=True),
        GeneratedImage(mime="image/png", data_b64=encoded, item_id="ig_1"),
    ]
    assert translator.statistics().unknown_events == 0


def test_the_mime_type_comes_from_the_bytes_and_a_data_url_result_is_unwrapped() -> None:
    encoded = base64.b64encode(JPEG).decode()
    events = translate_response(
        {"status": "completed", "output": [image_item(f"data:image/png;base64,{encoded}")]}
    )
    [image] = [event for event in events if isinstance(event, GeneratedImage)]
    assert image.mime == "image/jpeg"
    assert image.data_b64 == encoded
    assert image.data_url == f"data:image/jpeg;base64,{encoded}"


def test_an_unreadable_result_is_told_not_passed_on() -> None:
    events = translate_response({"status": "completed", "output": [image_item("@@not base64@@")]})
    assert not any(isinstance(event, GeneratedImage) for event in events)
    assert Status("⚠️ The generated image could not be read", done=True) in events


def test_an_image_item_without_a_result_gives_no_image() -> None:
    item = {"id": "ig_1", "type": "image_generation_call", "status": "completed"}
    events = translate_response({"status": "completed", "output": [item]})
    assert not any(isinstance(event, GeneratedImage) for event in events)
