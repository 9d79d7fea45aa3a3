"""
title: OpenRouter Direct Uploads (pipe-service)
author: pipe-service
version: 0.1.0
license: MIT
description: Sends chat attachments natively to pipe-service models instead of through RAG.
required_open_webui_version: 0.12.4
"""

# How it works
# ------------
# Open WebUI runs a filter's ``inlet`` before its own retrieval (RAG) step. For chats with a
# model of the pipe-service pipe, this filter takes the attachments whose MIME type is on the
# allowlist out of ``body["files"]`` (so RAG never sees them) and lists them under
# ``body["pipe_service_direct_uploads"]``. The pipe shim then reads each one from Open WebUI
# storage, for the chat's user, and the sidecar sends it to the model as a native
# ``input_file`` / ``input_audio`` / ``input_video`` part (or says in a status line that the
# model cannot take it). Images are left alone: Open WebUI already inlines them.
#
# A file on the allowlist that is too large fails the message with a clear error instead of
# quietly falling back to RAG. Files off the allowlist keep Open WebUI's normal path.
# Self-contained: only pydantic and the standard library (Open WebUI loads this file alone).

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

DIRECT_UPLOADS_KEY = "pipe_service_direct_uploads"
DEFAULT_MIME_TYPES = (
    "application/pdf,text/plain,text/markdown,text/csv,application/json,"
    "audio/mpeg,audio/mp3,audio/wav,audio/x-wav,video/mp4,video/webm,video/quicktime"
)


class DirectUploadRefusedError(Exception):
    """An allowlisted attachment cannot be sent natively; Open WebUI shows this message."""


def _mime_of(item: Mapping[str, Any]) -> str:
    record = item.get("file")
    meta = record.get("meta") if isinstance(record, Mapping) else None
    for candidate in (
        item.get("content_type"),
        meta.get("content_type") if isinstance(meta, Mapping) else None,
    ):
        if isinstance(candidate, str) and candidate:
            return candidate.split(";", 1)[0].strip().lower()
    return ""


def _size_of(item: Mapping[str, Any]) -> int | None:
    record = item.get("file")
    meta = record.get("meta") if isinstance(record, Mapping) else None
    for candidate in (item.get("size"), meta.get("size") if isinstance(meta, Mapping) else None):
        if isinstance(candidate, int) and not isinstance(candidate, bool):
            return candidate
    return None


def _name_of(item: Mapping[str, Any]) -> str:
    record = item.get("file")
    for candidate in (
        item.get("name"),
        record.get("filename") if isinstance(record, Mapping) else None,
        item.get("id"),
    ):
        if isinstance(candidate, str) and candidate:
            return candidate
    return "attachment"


class Filter:
    class Valves(BaseModel):
        priority: int = Field(default=0, description="Filter order (lower runs first).")
        PIPE_FUNCTION_ID: str = Field(
            default="openrouter",
            description="Id of the pipe-service pipe Function; only its models are affected.",
        )
        ALLOWED_MIME_TYPES: str = Field(
            default=DEFAULT_MIME_TYPES,
            description="Comma-separated MIME types sent natively (a trailing /* matches a "
            "whole family, e.g. audio/*). Other attachments keep Open WebUI's retrieval.",
        )
        MAX_FILE_MB: int = Field(
            default=20,
            ge=1,
            le=500,
            description="Largest attachment sent natively; a larger one fails the message "
            "with a clear error.",
        )

    def __init__(self) -> None:
        self.valves = self.Valves()

    def _allowed(self, mime: str) -> bool:
        for entry in self.valves.ALLOWED_MIME_TYPES.split(","):
            entry = entry.strip().lower()
            if not entry:
                continue
            if entry.endswith("/*") and mime.startswith(entry[:-1]):
                return True
            if mime == entry:
                return True
        return False

    def _is_pipe_model(self, model: Any) -> bool:
        return isinstance(model, str) and model.startswith(f"{self.valves.PIPE_FUNCTION_ID}.")

    async def inlet(
        self, body: dict[str, Any], __user__: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Move allowlisted attachments of pipe-service chats from RAG to native upload."""
        if not self._is_pipe_model(body.get("model")):
            return body
        files = body.get("files")
        if not isinstance(files, list) or not files:
            return body
        limit = self.valves.MAX_FILE_MB * 1_048_576
        kept: list[Any] = []
        direct: list[dict[str, Any]] = []
        for item in files:
            if not isinstance(item, Mapping) or item.get("type") not in (None, "file"):
                kept.append(item)
                continue
            mime = _mime_of(item)
            if mime.startswith("image/") or not self._allowed(mime):
                kept.append(item)
                continue
            name = _name_of(item)
            size = _size_of(item)
            if size is not None and size > limit:
                raise DirectUploadRefusedError(
                    f"{name} is {size / 1_048_576:.1f} MB; attachments sent to the model "
                    f"natively may be at most {self.valves.MAX_FILE_MB} MB"
                )
            file_id = item.get("id")
            if not isinstance(file_id, str) or not file_id:
                raise DirectUploadRefusedError(f"{name} has no Open WebUI file id")
            direct.append({"id": file_id, "name": name, "content_type": mime, "size": size})
        if direct:
            body["files"] = kept
            body[DIRECT_UPLOADS_KEY] = direct
        return body
