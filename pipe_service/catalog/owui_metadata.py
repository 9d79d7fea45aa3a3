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

from typing import Any

from pipe_service.catalog.capabilities import ModelCapabilities

__all__ = ["owui_capabilities", "owui_model_metadata"]


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


def owui_model_metadata(model: ModelCapabilities) -> dict[str, Any]:
    """The ``open_webui`` object of a ``GET /v1/models`` row (capabilities, description)."""
    return {"capabilities": owui_capabilities(model), "description": model.description}
