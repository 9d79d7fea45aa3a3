"""What Open WebUI should show for one model: its capability checkboxes and its description.

Open WebUI 0.12.4 reads ``meta.capabilities`` of a model entry to decide what the chat offers:
``vision`` lets images through, ``file_upload`` shows the attachment control, ``web_search`` /
``code_interpreter`` / ``image_generation`` show those toggles (and their built-in tools),
``builtin_tools`` injects its ~28 built-in tools at all, ``citations`` / ``status_updates`` /
``usage`` render sources, status lines and token usage. The shim writes these into the model
entries it keeps in step with the catalog (see ``docs/install.md``, "Who sees the models").

Synopsis::

    fields = owui_model_metadata(model)
    fields["capabilities"]["file_upload"]   # True only for models that take images or files
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipe_service.catalog.capabilities import ModelCapabilities

__all__ = ["ModelEntrySettings", "owui_capabilities", "owui_model_metadata"]


class ModelEntrySettings(BaseModel):
    """What the shim writes into Open WebUI's model entries besides the catalog's own data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    icon_urls: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Default empty. Model icons: OpenRouter slug or glob pattern → image URL "
            "(https://… or data:image/png;base64,…), first match wins, e.g. "
            '`{"anthropic/*" = "https://example.com/claude.png"}`. OpenRouter\'s /models has '
            "no icons; the shim sets them when its UPDATE_MODEL_IMAGES valve is on."
        ),
    )

    @field_validator("icon_urls")
    @classmethod
    def _image_urls(cls, value: dict[str, str]) -> dict[str, str]:
        for pattern, url in value.items():
            if not pattern.strip():
                raise ValueError("icon_urls: a pattern is empty")
            if not url.startswith(("https://", "http://", "data:image/")):
                raise ValueError(
                    f"icon_urls[{pattern!r}]: use an http(s) URL or a data:image/… URI"
                )
        return value


def owui_capabilities(model: ModelCapabilities) -> dict[str, bool]:
    """Open WebUI's capability checkboxes for ``model``.

    - ``vision``: the model takes images.
    - ``file_upload``: the model takes images or files (the attachment control also carries
      images); text-only models get no attachment control.
    - ``web_search``, ``code_interpreter``, ``builtin_tools``: Open WebUI implements these as
      tools, so only tool-calling models get them (``web_search`` also for models that search
      natively).
    - ``image_generation``: the model outputs images.
    - ``citations``, ``status_updates``, ``usage``: the sidecar reports them for every model.
    """
    return {
        "vision": model.input_image,
        "file_upload": model.input_image or model.input_file,
        "web_search": model.tools or model.web_search,
        "image_generation": model.output_image,
        "code_interpreter": model.tools,
        "builtin_tools": model.tools,
        "citations": True,
        "status_updates": True,
        "usage": True,
    }


def owui_model_metadata(
    model: ModelCapabilities, icon_urls: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The ``open_webui`` object of a ``GET /v1/models`` row: capabilities, description and,
    when ``icon_urls`` has a pattern for the slug, ``profile_image_url``."""
    fields: dict[str, Any] = {
        "capabilities": owui_capabilities(model),
        "description": model.description,
    }
    for pattern, url in (icon_urls or {}).items():
        if model.slug == pattern or fnmatchcase(model.slug, pattern):
            fields["profile_image_url"] = url
            break
    return fields
