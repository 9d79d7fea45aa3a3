"""The Direct Uploads filter (the companion file) and the shim's side of direct uploads."""

from __future__ import annotations

import sys
import types
import uuid
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.service.conftest import Sidecar
from tests.shim.harness import OwuiSide, chat_body, run_shim

FILTER_PATH = (
    Path(__file__).resolve().parents[2] / "pipe_service" / "shim" / "openrouter_direct_uploads.py"
)


def load_filter() -> Any:
    """Load the filter as Open WebUI does (exec into a fresh module) and instantiate it."""
    name = f"function_direct_uploads_{uuid.uuid4().hex}"
    module = types.ModuleType(name)
    module.__dict__["__file__"] = str(FILTER_PATH)
    sys.modules[name] = module
    exec(
        compile(FILTER_PATH.read_text(encoding="utf-8"), str(FILTER_PATH), "exec"), module.__dict__
    )
    return module.Filter()


def owui_file(file_id: str, name: str, content_type: str, size: int) -> dict[str, Any]:
    """A file item as Open WebUI's UI sends it in ``files``."""
    return {
        "type": "file",
        "id": file_id,
        "name": name,
        "status": "uploaded",
        "size": size,
        "file": {
            "id": file_id,
            "filename": name,
            "meta": {"name": name, "content_type": content_type, "size": size},
        },
    }


async def test_allowlisted_attachments_of_pipe_models_leave_rag_for_a_direct_upload() -> None:
    pdf = owui_file("f-1", "report.pdf", "application/pdf", 1000)
    photo = owui_file("f-2", "cat.png", "image/png", 1000)
    sheet = owui_file("f-3", "t.xlsx", "application/vnd.ms-excel", 1000)
    body = {"model": "openrouter.sim__vision", "files": [pdf, photo, sheet]}
    result = await load_filter().inlet(body)
    assert result["files"] == [photo, sheet]
    assert result["pipe_service_direct_uploads"] == [
        {"id": "f-1", "name": "report.pdf", "content_type": "application/pdf", "size": 1000}
    ]


async def test_other_models_are_left_alone() -> None:
    body = {"model": "gpt-4o", "files": [owui_file("f-1", "r.pdf", "application/pdf", 10)]}
    result = await load_filter().inlet(dict(body))
    assert result == body


async def test_a_mime_family_wildcard_matches() -> None:
    upload_filter = load_filter()
    upload_filter.valves.ALLOWED_MIME_TYPES = "audio/*"
    body = {"model": "openrouter.x", "files": [owui_file("f-1", "a.ogg", "audio/ogg", 10)]}
    result = await upload_filter.inlet(body)
    assert result["pipe_service_direct_uploads"][0]["content_type"] == "audio/ogg"


async def test_an_oversized_attachment_fails_clearly_instead_of_falling_back_to_rag() -> None:
    upload_filter = load_filter()
    upload_filter.valves.MAX_FILE_MB = 1
    body = {
        "model": "openrouter.x",
        "files": [owui_file("f-1", "big.pdf", "application/pdf", 3 << 20)],
    }
    with pytest.raises(Exception, match=r"big.pdf is 3.0 MB; .* at most 1 MB"):
        await upload_filter.inlet(body)


async def test_the_shim_refuses_to_answer_when_an_upload_cannot_be_read(
    shim: types.ModuleType, uds_pipe: Any, sidecar: Sidecar
) -> None:
    # Outside Open WebUI there is no file storage: the shim says so and sends nothing.
    body = chat_body(shim, "sim/vision")
    body["pipe_service_direct_uploads"] = [{"id": "f-1", "name": "report.pdf"}]
    owui = OwuiSide()
    with trio.fail_after(30):
        items = await run_shim(lambda: owui.invoke(uds_pipe, body))
    assert len(items) == 1
    assert items[0].startswith("### ⚠️ Attachment not sent")
    assert "Open WebUI file storage is not available" in items[0]


async def test_the_failure_template_valve_words_the_refusal(
    shim: types.ModuleType, uds_pipe: Any, sidecar: Sidecar
) -> None:
    uds_pipe.valves = shim.Pipe.Valves(
        SIDECAR_ADDRESSES=uds_pipe.valves.SIDECAR_ADDRESSES,
        DIRECT_UPLOAD_FAILURE_TEMPLATE="**Not sent:** {problem}. Ask #help-desk.",
    )
    body = chat_body(shim, "sim/vision")
    body["pipe_service_direct_uploads"] = [{"id": "f-1", "name": "report.pdf"}]
    with trio.fail_after(30):
        items = await run_shim(lambda: OwuiSide().invoke(uds_pipe, body))
    assert len(items) == 1
    assert items[0].startswith("**Not sent:** ")
    assert "Open WebUI file storage is not available" in items[0]
    assert items[0].endswith(". Ask #help-desk.")


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{problem} {user}", "unknown placeholder {user}"),
        ("{problem.__class__}", "unknown placeholder {problem.__class__}"),
        ("{problem:>999999}", "unknown placeholder {problem}"),
        ("unclosed {problem", "not a valid template"),
    ],
)
def test_a_bad_failure_template_is_refused_naming_the_valve(
    shim: types.ModuleType, template: str, reason: str
) -> None:
    with pytest.raises(ValueError, match="DIRECT_UPLOAD_FAILURE_TEMPLATE") as refused:
        shim.Pipe.Valves(DIRECT_UPLOAD_FAILURE_TEMPLATE=template)
    assert reason in str(refused.value)


def test_an_empty_failure_template_means_the_built_in_wording(shim: types.ModuleType) -> None:
    valves = shim.Pipe.Valves(DIRECT_UPLOAD_FAILURE_TEMPLATE="  ")
    assert valves.DIRECT_UPLOAD_FAILURE_TEMPLATE is None
    text = shim.direct_upload_failure_markdown("x.pdf: too big", None)
    assert text.startswith("### ⚠️ Attachment not sent\n\nx.pdf: too big. The message was not sent")
