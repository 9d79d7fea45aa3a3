"""Re-host images a model links to (``![alt](https://…)``) in Open WebUI, so history keeps them.

Off unless ``media.rehost_linked_images``. At the end of an answer, each linked image URL (up to
``media.rehost_max_images``) is downloaded through the SSRF-guarded fetcher, checked to be an
image by its bytes, and saved in Open WebUI through the shim; the shim attaches it to the
message, so the chat keeps the picture when the link dies. Each failure is one status line.

Synopsis::

    notes = await rehost_linked_images(answer_text, fetcher, files, settings)
"""

from __future__ import annotations

import re
from typing import Final

from pipe_service.fetch.fetcher import FetchError, RemoteFetcher
from pipe_service.fetch.ssrf_guard import UnsafeUrlError
from pipe_service.front.pipe.files import FileNotStoredError, ShimFileStore
from pipe_service.media.inline import InlinePayloadError, inspect_bytes
from pipe_service.media.settings import MEGABYTE, MediaSettings

_MARKDOWN_IMAGE: Final = re.compile(r"!\[[^\]\n]{0,300}\]\(\s*<?(https?://[^)\s>]{1,2048})>?")


def linked_image_urls(text: str, limit: int) -> list[str]:
    """Distinct http(s) URLs of Markdown images in ``text``, in order, at most ``limit``."""
    urls = list(dict.fromkeys(match.group(1) for match in _MARKDOWN_IMAGE.finditer(text)))
    return urls[:limit]


async def rehost_linked_images(
    text: str, fetcher: RemoteFetcher, files: ShimFileStore, settings: MediaSettings
) -> list[str]:
    """Save every linked image of ``text`` in Open WebUI; the notes of those that failed."""
    notes: list[str] = []
    for number, url in enumerate(linked_image_urls(text, settings.rehost_max_images), start=1):
        try:
            body = await fetcher.fetch(url)
            image = inspect_bytes(
                body.data,
                max_bytes=settings.fetch_max_mb * MEGABYTE,
                declared_mime=body.content_type,
                kind="image",
            )
            extension = image.mime.split("/", 1)[1].split("+", 1)[0]
            await files.store(
                name=f"linked-image-{number}.{extension}",
                content_type=image.mime,
                data_b64=image.base64(),
            )
        except UnsafeUrlError as exc:
            notes.append(f"linked image from {exc.where} not kept: refused ({exc.reason})")
        except (FetchError, InlinePayloadError) as exc:
            notes.append(f"linked image {number} not kept: {exc.message}")
        except FileNotStoredError as exc:
            notes.append(f"linked image {number} not kept: {exc}")
    return notes
