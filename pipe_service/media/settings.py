"""The ``[media]`` settings: attachments in, generated files out, and the remote fetcher."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipe_service.fetch.fetcher import FetchLimits
from pipe_service.fetch.ssrf_guard import UrlPolicy

MEGABYTE = 1024 * 1024
_HOST_ENTRY = re.compile(r"^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$")

ImageSelection = Literal["all_turns", "last_user_turn"]
InvalidInlinePolicy = Literal["drop", "fail"]


class MediaSettings(BaseModel):
    """Images, files, audio and video: caps, inline validation and safe remote downloads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_images_per_request: int = Field(
        5,
        ge=1,
        le=20,
        description="Images sent upstream per request at most; the newest are kept and the "
        "user is told how many older ones were left out.",
    )
    image_selection: ImageSelection = Field(
        "all_turns",
        description="Which images are forwarded: `all_turns` (images of earlier user turns "
        "too, newest first, within the cap) or `last_user_turn` (only the latest message's).",
    )
    inline_max_mb: int = Field(
        20,
        ge=1,
        le=500,
        description="Largest inline (base64 / data: URL) image, file or audio payload, in MB "
        "decoded; the size is estimated from the text before anything is decoded.",
    )
    video_max_mb: int = Field(
        100, ge=1, le=1000, description="Largest inline (data: URL) video, in MB decoded."
    )
    invalid_inline: InvalidInlinePolicy = Field(
        "drop",
        description="An oversized or malformed inline payload: `drop` it with a status line and "
        "answer without it, or `fail` the request with an error naming it.",
    )
    inline_remote_images: bool = Field(
        True,
        description="Download remote image URLs (through the SSRF guard) and send them inline, "
        "so the provider never fetches a URL the user supplied. Off: safe URLs pass through.",
    )
    store_timeout_s: float = Field(
        30.0,
        gt=0,
        le=600,
        description="How long saving a generated image in Open WebUI storage (through the shim) "
        "may take before the user is told it failed.",
    )
    rehost_linked_images: bool = Field(
        False,
        description="Save images the model links to (Markdown `![](https://…)`) in Open WebUI "
        "storage at the end of the answer (downloaded through the SSRF guard), so the chat "
        "keeps them when the links die.",
    )
    rehost_max_images: int = Field(
        4, ge=1, le=20, description="Linked images re-hosted per answer at most."
    )
    fetch_max_mb: int = Field(
        50, ge=1, le=500, description="Largest remote download, in MB (header and byte count)."
    )
    fetch_concurrency: int = Field(
        8, ge=1, le=256, description="Remote downloads running at once in the process."
    )
    fetch_max_redirects: int = Field(
        5, ge=0, le=20, description="Redirects followed per download (each re-validated)."
    )
    fetch_max_retries: int = Field(
        3, ge=0, le=10, description="Retries of a download on 5xx/408/425/429 or network errors."
    )
    fetch_retry_initial_s: float = Field(
        1.0, gt=0, le=60, description="First retry delay of a download; doubles per retry."
    )
    fetch_retry_budget_s: float = Field(
        45.0, ge=1, le=600, description="Total time a download may spend waiting to retry."
    )
    fetch_attempt_timeout_s: float = Field(
        30.0, gt=0, le=600, description="Time one download attempt may take."
    )
    dns_timeout_s: float = Field(
        5.0,
        gt=0,
        le=60,
        description="A host name whose lookup takes longer is treated as unsafe (refused).",
    )
    ssrf_protection: bool = Field(
        True,
        description="Refuse downloads from private, loopback, link-local, metadata and other "
        "non-public addresses. Turn off only on an isolated network.",
    )
    allow_http_hosts: list[str] = Field(
        default_factory=list,
        description="`host` or `host:port` entries that may be fetched over plain http "
        "(everything else must be https).",
    )
    trusted_hosts: list[str] = Field(
        default_factory=list,
        description="`host` or `host:port` entries exempt from the address check (an internal "
        "asset server you vouch for); connections to them are still pinned.",
    )

    @field_validator("allow_http_hosts", "trusted_hosts")
    @classmethod
    def _host_entries(cls, entries: list[str]) -> list[str]:
        normalised = [entry.strip().lower() for entry in entries if entry.strip()]
        for entry in normalised:
            if not _HOST_ENTRY.match(entry):
                raise ValueError(
                    f"{entry!r} is not a host or host:port entry (e.g. assets.internal:8080)"
                )
        return normalised

    def fetch_limits(self) -> FetchLimits:
        return FetchLimits(
            max_bytes=self.fetch_max_mb * MEGABYTE,
            max_redirects=self.fetch_max_redirects,
            max_retries=self.fetch_max_retries,
            retry_initial_s=self.fetch_retry_initial_s,
            retry_budget_s=self.fetch_retry_budget_s,
            attempt_timeout_s=self.fetch_attempt_timeout_s,
            concurrency=self.fetch_concurrency,
        )

    def url_policy(self) -> UrlPolicy:
        return UrlPolicy(
            http_hosts=frozenset(self.allow_http_hosts),
            trusted_hosts=frozenset(self.trusted_hosts),
            enabled=self.ssrf_protection,
            dns_timeout_s=self.dns_timeout_s,
        )
