"""Media intake: make a built Responses payload's images, files, audio and video safe to send.

Runs after the request transform and before the upstream call. For every user message part:

* ``input_image``: the newest ``max_images_per_request`` are kept (older ones, and with
  ``last_user_turn`` those of earlier turns, become a short text placeholder); a ``data:`` image
  is validated (size estimated before decoding, bytes sniffed); a remote image is checked by the
  SSRF guard and, with ``inline_remote_images``, downloaded by the fetcher and sent inline;
* ``input_file``: ``file_data`` validated (bare base64 becomes a data URL), a ``file_url`` checked
  by the guard, a missing ``filename`` filled in; a non-PDF file for a model without file input
  is dropped (OpenRouter's file-parser reads PDFs for any model);
* ``input_audio``: base64 validated, the bytes must match the declared mp3/wav format;
* ``input_video``: a ``data:`` video validated against ``video_max_mb``, a URL checked.

Open WebUI attachments the shim read from storage (direct uploads) are added to the last user
message as native parts first. Everything dropped is said in a note (a status line for the
user), never silently; with ``invalid_inline = "fail"`` a bad inline payload fails the request
instead (:class:`MediaRefusedError`, a ``ValueError`` so it is answered as an invalid request).

Synopsis::

    intake = MediaIntake(settings.media, fetcher)
    prepared = await intake.prepare(payload, model=model, attachments=attachments)
    for note in prepared.notes: ...
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import httpx
import trio

from pipe_service.catalog.capabilities import ModelCapabilities
from pipe_service.fetch.fetcher import FetchError, RemoteFetcher
from pipe_service.fetch.ssrf_guard import UnsafeUrlError
from pipe_service.media.inline import (
    InlinePayload,
    InlinePayloadError,
    MediaKind,
    inspect_bytes,
    parse_base64,
    parse_data_url,
)
from pipe_service.media.settings import MEGABYTE, MediaSettings
from pipe_service.transform.messages import placeholder_kind

__all__ = ["Attachment", "MediaIntake", "MediaRefusedError", "PreparedMedia"]

log = logging.getLogger(__name__)

_AUDIO_FORMATS: Final = {"audio/mpeg": "mp3", "audio/wav": "wav"}
_EXTENSIONS: Final = {
    "application/pdf": "pdf",
    "text/plain": "txt",
    "text/csv": "csv",
    "text/markdown": "md",
    "application/json": "json",
    "application/zip": "zip",
}


@dataclass(frozen=True, slots=True)
class Attachment:
    """An Open WebUI file the shim read from storage for the chat's user (a direct upload)."""

    name: str
    content_type: str
    data_b64: str
    file_id: str | None = None


@dataclass(frozen=True, slots=True)
class PreparedMedia:
    payload: dict[str, Any]
    notes: tuple[str, ...]


class MediaRefusedError(ValueError):
    """An inline payload was refused and the policy says to fail the request."""


class _PartDroppedError(Exception):
    """This part is left out; ``note`` says why (for the user)."""

    def __init__(self, note: str) -> None:
        super().__init__(note)
        self.note = note


class MediaIntake:
    """Validates and resolves the media parts of payloads (one instance per process)."""

    def __init__(self, settings: MediaSettings, fetcher: RemoteFetcher) -> None:
        self.settings = settings
        self.fetcher = fetcher

    async def prepare(
        self,
        payload: dict[str, Any],
        *,
        model: ModelCapabilities,
        attachments: Sequence[Attachment] = (),
    ) -> PreparedMedia:
        """A copy of ``payload`` with its media validated, plus notes on what was left out."""
        run = _Run(self, model)
        prepared = await run.apply(payload, attachments)
        for note in run.notes:
            # Also the record for fronts that have no status channel (the OpenAI API).
            log.info("media left out: %s", note)
        return PreparedMedia(payload=prepared, notes=tuple(run.notes))


class _Run:
    """The state of one :meth:`MediaIntake.prepare` call."""

    def __init__(self, intake: MediaIntake, model: ModelCapabilities) -> None:
        self.settings = intake.settings
        self.fetcher = intake.fetcher
        self.model = model
        self.notes: list[str] = []

    async def apply(
        self, payload: dict[str, Any], attachments: Sequence[Attachment]
    ) -> dict[str, Any]:
        items = [dict(item) for item in payload.get("input", [])]
        users = [item for item in items if _is_user_message(item)]
        for item in users:
            item["content"] = [dict(part) for part in item["content"]]
        if users and attachments:
            users[-1]["content"].extend(self._attachment_parts(attachments))
        elif attachments:
            names = ", ".join(attachment.name or "attachment" for attachment in attachments)
            self.notes.append(f"📎 {names} not sent: the request has no user message")
        self._note_placeholders(users)
        self._select_images(users)
        await self._resolve_all(users)
        return {**payload, "input": items}

    async def _resolve_all(self, users: list[dict[str, Any]]) -> None:
        """Resolve every part in place; remote checks and downloads run concurrently.

        Local parts go first, one by one (a refused inline payload may fail the request with
        :class:`MediaRefusedError`); parts that need the network then run in one nursery (their
        failures are always drops, so nothing but a bug escapes it). Notes keep part order.
        """
        notes: dict[tuple[int, int], str] = {}

        async def resolve_one(message_index: int, part_index: int) -> None:
            content = users[message_index]["content"]
            part = content[part_index]
            try:
                content[part_index] = await self._resolve(part)
            except _PartDroppedError as dropped:
                notes[(message_index, part_index)] = dropped.note
                content[part_index] = _text(f"[{_kind_of(part)} not sent]")

        positions = [
            (message_index, part_index)
            for message_index, item in enumerate(users)
            for part_index in range(len(item["content"]))
        ]
        remote = [pos for pos in positions if _needs_network(users[pos[0]]["content"][pos[1]])]
        remote_set = set(remote)
        for message_index, part_index in positions:
            if (message_index, part_index) not in remote_set:
                await resolve_one(message_index, part_index)
        if remote:
            async with trio.open_nursery() as nursery:
                for message_index, part_index in remote:
                    nursery.start_soon(resolve_one, message_index, part_index)
        self.notes.extend(notes[position] for position in sorted(notes))

    # -- attachments -------------------------------------------------------------------------

    def _attachment_parts(self, attachments: Sequence[Attachment]) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        model = self.model
        for attachment in attachments:
            mime = attachment.content_type.split(";", 1)[0].strip().lower()
            data_url = f"data:{mime or 'application/octet-stream'};base64,{attachment.data_b64}"
            name = attachment.name or "attachment"
            if mime.startswith("image/"):
                if model.input_image:
                    parts.append({"type": "input_image", "image_url": data_url, "detail": "auto"})
                else:
                    self.notes.append(f"📎 {name} not sent: {model.slug} cannot read images")
            elif mime.startswith("audio/"):
                audio_format = _AUDIO_FORMATS.get(_normal_audio(mime))
                if not model.input_audio:
                    self.notes.append(f"📎 {name} not sent: {model.slug} cannot read audio")
                elif audio_format is None:
                    self.notes.append(f"📎 {name} not sent: only mp3 and wav audio can be sent")
                else:
                    audio = {"data": attachment.data_b64, "format": audio_format}
                    parts.append({"type": "input_audio", "input_audio": audio})
            elif mime.startswith("video/"):
                if model.input_video:
                    parts.append({"type": "input_video", "video_url": data_url})
                else:
                    self.notes.append(f"📎 {name} not sent: {model.slug} cannot read video")
            else:
                parts.append({"type": "input_file", "filename": name, "file_data": data_url})
        return parts

    # -- selection ---------------------------------------------------------------------------

    def _note_placeholders(self, users: list[dict[str, Any]]) -> None:
        counts: dict[str, int] = {}
        for item in users:
            for part in item["content"]:
                kind = placeholder_kind(part)
                if kind is not None:
                    counts[kind] = counts.get(kind, 0) + 1
        for kind, count in counts.items():
            self.notes.append(f"{count} {kind}(s) not sent: {self.model.slug} cannot read {kind}")

    def _select_images(self, users: list[dict[str, Any]]) -> None:
        positions = [
            (message_index, part_index)
            for message_index, item in enumerate(users)
            for part_index, part in enumerate(item["content"])
            if part.get("type") == "input_image"
        ]
        last = len(users) - 1
        if self.settings.image_selection == "last_user_turn":
            earlier = [pos for pos in positions if pos[0] != last]
            for message_index, part_index in earlier:
                users[message_index]["content"][part_index] = _text("[earlier image not sent]")
            if earlier:
                self.notes.append(
                    f"{len(earlier)} image(s) from earlier messages not sent "
                    "(only the latest message's images are forwarded)"
                )
            positions = [pos for pos in positions if pos[0] == last]
        cap = self.settings.max_images_per_request
        if len(positions) > cap:
            surplus = positions[: len(positions) - cap]
            for message_index, part_index in surplus:
                users[message_index]["content"][part_index] = _text("[older image not sent]")
            self.notes.append(
                f"{len(surplus)} older image(s) not sent: at most {cap} images per request"
            )

    # -- one part ----------------------------------------------------------------------------

    async def _resolve(self, part: dict[str, Any]) -> dict[str, Any]:
        kind = part.get("type")
        if kind == "input_image":
            return await self._image(part)
        if kind == "input_file":
            return await self._file(part)
        if kind == "input_audio":
            return self._audio(part)
        if kind == "input_video":
            return await self._video(part)
        return part

    async def _image(self, part: dict[str, Any]) -> dict[str, Any]:
        url = str(part.get("image_url") or "")
        if url[:5].lower() == "data:":
            payload = self._inline(url, "image", "an image")
            return {**part, "image_url": _same_or_normalised(url, payload)}
        if not self.settings.inline_remote_images:
            await self._checked_url(url, "image")
            return part
        # The fetcher validates (and pins) every hop itself: no separate check first.
        try:
            body = await self.fetcher.fetch(url)
        except UnsafeUrlError as exc:
            raise _PartDroppedError(
                f"image from {exc.where} was not sent: refused ({exc.reason})"
            ) from None
        except FetchError as exc:
            raise _PartDroppedError(f"an image could not be downloaded: {exc.message}") from None
        where = _origin(body.url)
        try:
            payload = inspect_bytes(
                body.data,
                # Sent inline: the inline cap applies, not only the download cap.
                max_bytes=self.settings.inline_max_mb * MEGABYTE,
                declared_mime=body.content_type,
                kind="image",
            )
        except InlinePayloadError as exc:
            raise _PartDroppedError(f"an image from {where} was not sent: {exc.message}") from None
        return {**part, "image_url": payload.data_url()}

    async def _file(self, part: dict[str, Any]) -> dict[str, Any]:
        resolved = dict(part)
        data = resolved.get("file_data")
        url = resolved.get("file_url")
        if isinstance(url, str) and url[:5].lower() == "data:" and not data:
            data = url
            del resolved["file_url"]
        mime: str | None = None
        if isinstance(data, str):
            label = _file_label(part)
            parsed = (
                self._inline(data, None, label)
                if data[:5].lower() == "data:"
                else self._inline_base64(data, label)
            )
            mime = parsed.mime
            resolved["file_data"] = _same_or_normalised(data, parsed)
        elif isinstance(url, str):
            await self._checked_url(url, _file_label(part))
        if not isinstance(resolved.get("filename"), str) or not resolved["filename"]:
            resolved["filename"] = _default_filename(mime)
        is_pdf = mime == "application/pdf" or str(resolved["filename"]).lower().endswith(".pdf")
        if not self.model.input_file and not is_pdf:
            raise _PartDroppedError(
                f"{resolved['filename']} was not sent: {self.model.slug} cannot read files "
                "(only PDFs are parsed for any model)"
            )
        return resolved

    def _audio(self, part: dict[str, Any]) -> dict[str, Any]:
        audio = dict(part.get("input_audio") or {})
        declared = str(audio.get("format", ""))
        data = str(audio.get("data", ""))
        payload = (
            self._inline(data, "audio", "an audio clip")
            if data[:5].lower() == "data:"
            else self._inline_base64(data, "an audio clip", kind="audio")
        )
        actual = _AUDIO_FORMATS.get(payload.mime)
        if actual != declared:
            message = (
                f"an audio clip was not sent: labelled {declared} but holds "
                f"{actual or payload.mime} (only mp3 and wav can be sent)"
            )
            self._invalid(message)
            raise _PartDroppedError(message)
        return {**part, "input_audio": {"data": payload.base64(), "format": actual}}

    async def _video(self, part: dict[str, Any]) -> dict[str, Any]:
        url = str(part.get("video_url") or "")
        if url[:5].lower() == "data:":
            payload = self._inline(
                url, "video", "a video", max_bytes=self.settings.video_max_mb * MEGABYTE
            )
            return {**part, "video_url": _same_or_normalised(url, payload)}
        await self._checked_url(url, "video")
        return part

    # -- helpers -----------------------------------------------------------------------------

    async def _checked_url(self, url: str, label: str) -> str:
        """The guard's verdict on a URL the provider would fetch; its host for messages."""
        try:
            target = await self.fetcher.check(url)
        except UnsafeUrlError as exc:
            raise _PartDroppedError(
                f"{label} from {exc.where} was not sent: refused ({exc.reason})"
            ) from None
        return f"{target.url.scheme}://{target.host}"

    def _inline(
        self,
        text: str,
        kind: MediaKind | None,
        label: str,
        *,
        max_bytes: int | None = None,
    ) -> InlinePayload:
        limit = max_bytes if max_bytes is not None else self.settings.inline_max_mb * MEGABYTE
        try:
            return parse_data_url(text, max_bytes=limit, kind=kind)
        except InlinePayloadError as exc:
            message = f"{label} was not sent: {exc.message}"
            self._invalid(message)
            raise _PartDroppedError(message) from None

    def _inline_base64(
        self, text: str, label: str, *, kind: MediaKind | None = None
    ) -> InlinePayload:
        try:
            return parse_base64(text, max_bytes=self.settings.inline_max_mb * MEGABYTE, kind=kind)
        except InlinePayloadError as exc:
            message = f"{label} was not sent: {exc.message}"
            self._invalid(message)
            raise _PartDroppedError(message) from None

    def _invalid(self, message: str) -> None:
        """Fail the request when the policy says so (else the caller drops the part)."""
        if self.settings.invalid_inline == "fail":
            raise MediaRefusedError(message)
        log.info("inline payload dropped: %s", message)


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}"


def _needs_network(part: dict[str, Any]) -> bool:
    """True for a part whose URL is checked (and maybe downloaded) rather than decoded."""
    kind = part.get("type")
    if kind == "input_image":
        url = part.get("image_url")
    elif kind == "input_video":
        url = part.get("video_url")
    elif kind == "input_file" and not part.get("file_data"):
        url = part.get("file_url")
    else:
        return False
    return isinstance(url, str) and url[:5].lower() != "data:"


def _is_user_message(item: dict[str, Any]) -> bool:
    return (
        item.get("type", "message") == "message"
        and item.get("role") == "user"
        and isinstance(item.get("content"), list)
    )


def _same_or_normalised(original: str, payload: InlinePayload) -> str:
    # Keep the client's string unless its declared type was wrong or it was bare base64.
    prefix = f"data:{payload.mime};base64,"
    return original if original.startswith(prefix) else payload.data_url()


def _normal_audio(mime: str) -> str:
    return {"audio/mp3": "audio/mpeg", "audio/x-wav": "audio/wav", "audio/wave": "audio/wav"}.get(
        mime, mime
    )


def _default_filename(mime: str | None) -> str:
    extension = _EXTENSIONS.get(mime or "")
    if extension is None and mime and "/" in mime:
        extension = mime.split("/", 1)[1].split("+", 1)[0][:10]
    return f"document.{extension or 'bin'}"


def _file_label(part: dict[str, Any]) -> str:
    name = part.get("filename")
    return str(name) if isinstance(name, str) and name else "a file"


def _kind_of(part: dict[str, Any]) -> str:
    return {
        "input_image": "image",
        "input_file": "file",
        "input_audio": "audio",
        "input_video": "video",
    }.get(str(part.get("type")), "attachment")


def _text(text: str) -> dict[str, Any]:
    return {"type": "input_text", "text": text}
