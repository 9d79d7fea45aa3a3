"""An ordinary Open WebUI user (not an admin) and the shim's models.

Open WebUI 0.12.4 shows a model without a model entry to admins only; the shim keeps entries in
step with the catalog with the access the admin chose (``MODEL_ACCESS``). These tests sign in as
a plain user: the models are listed, chat works, an image reaches a vision model, the attachment
control (``file_upload``) is offered only where the model takes files, and a model retired from
the catalog leaves the user's list at the next refresh.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import InstalledShim, Stack, install, set_hidden_models
from tests.e2e.owui_rest import Admin, add_user, complete, models, upload_file
from tests.e2e.processes import wait_until
from tests.e2e.ui_chat import UiChat

pytestmark = pytest.mark.e2e

USERS_FUNCTION_ID = "openrouter_users"
CATALOG_CHANGE_S = 30.0
# A 1x1 PNG (red pixel).
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


@pytest.fixture(scope="module")
def users_shim(stack: Stack, shim_file: Path) -> InstalledShim:
    """The shim as Function ``openrouter_users``: public models, no model-list cache."""
    return install(
        stack, shim_file, USERS_FUNCTION_ID, "MODEL_ACCESS=public", "MODEL_CACHE_TTL_S=0"
    )


@pytest.fixture(scope="module")
def user(stack: Stack) -> Admin:
    return add_user(stack.admin, "E2E User", "plain-user@e2e.local")


def capabilities(account: Admin, model: str) -> dict[str, bool]:
    seen = models(account)
    assert model in seen, sorted(seen)
    caps: dict[str, bool] = seen[model]["info"]["meta"]["capabilities"]
    return caps


def test_a_plain_user_sees_the_public_models_and_not_the_admin_only_ones(
    stack: Stack, shim: InstalledShim, users_shim: InstalledShim, user: Admin
) -> None:
    seen = models(user)
    assert users_shim.model("sim/text") in seen
    assert users_shim.model("sim/vision") in seen
    # The `openrouter` Function keeps the default MODEL_ACCESS=admins (other tests grant a few
    # of its models by hand; sim/text is not one of them).
    assert shim.model("sim/text") not in seen
    assert shim.model("sim/text") in models(stack.admin)


def test_the_attachment_control_is_offered_only_where_the_model_takes_files(
    users_shim: InstalledShim, user: Admin
) -> None:
    vision = capabilities(user, users_shim.model("sim/vision"))
    text = capabilities(user, users_shim.model("sim/text"))
    assert (vision["vision"], vision["file_upload"]) == (True, True)
    assert (text["vision"], text["file_upload"]) == (False, False)


def test_a_plain_user_chats(users_shim: InstalledShim, user: Admin) -> None:
    reply = complete(user, users_shim.model("sim/text"), "hello as a user")
    assert reply["choices"][0]["message"]["content"].startswith("You said: hello as a user.")


def test_a_plain_user_attaches_an_image_to_a_vision_model(
    stack: Stack, users_shim: InstalledShim, user: Admin
) -> None:
    record = upload_file(user, "pixel.png", PNG, "image/png")
    item = {
        "type": "file",
        "file": record,
        "id": record["id"],
        "url": record["id"],
        "name": "pixel.png",
        "collection_name": "",
        "status": "uploaded",
        "size": len(PNG),
        "error": "",
        "itemId": "e2e-item-1",
        "content_type": "image/png",
    }
    stack.simulator.clear_requests()
    model = users_shim.model("sim/vision")
    with UiChat(
        stack.owui.python, stack.owui.url, user.jwt, model, "what is in it?",
        files_json=json.dumps([item]),
    ) as chat:  # fmt: skip
        chat.started()
        chat.finished()
    sent = stack.simulator.requests()[-1]["body"]
    parts = [part for message in sent["input"] for part in _content(message)]
    images = [part for part in parts if part.get("type") == "input_image"]
    assert images, sent["input"]
    assert images[0]["image_url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()


def _content(message: dict) -> list[dict]:
    content = message.get("content")
    return content if isinstance(content, list) else []


@pytest.fixture
def retired_vision_model(stack: Stack) -> Iterator[str]:
    """``sim/vision`` gone from the simulator's catalog (and the sidecar's), restored after."""
    set_hidden_models(stack, ["sim/vision"])
    try:
        yield "sim/vision"
    finally:
        set_hidden_models(stack, [])


def test_a_model_removed_from_the_catalog_leaves_the_users_list_after_a_refresh(
    stack: Stack, users_shim: InstalledShim, user: Admin, retired_vision_model: str
) -> None:
    model = users_shim.model(retired_vision_model)
    wait_until(
        lambda: model not in models(user),
        limit_s=CATALOG_CHANGE_S,
        what="the retired model leaving the user's list",
        step_s=0.5,
    )
    assert users_shim.model("sim/text") in models(user)


def _entry_ids(stack: Stack) -> set[str]:
    with stack.admin.client() as client:
        return {str(item["id"]) for item in client.get("/api/v1/models/all").json()}


def _set_valves(stack: Stack, function_id: str, **values: object) -> None:
    path = f"/api/v1/functions/id/{function_id}/valves"
    with stack.admin.client() as client:
        reply = client.post(f"{path}/update", json=client.get(path).json() | values)
    assert reply.status_code == 200, reply.text


def test_a_model_entry_the_admin_deleted_is_not_re_created_at_the_next_catalog_change(
    stack: Stack, users_shim: InstalledShim, user: Admin
) -> None:
    deleted = users_shim.model("sim/web-citations")
    assert deleted in models(user)
    with stack.admin.client() as client:
        reply = client.post("/api/v1/models/model/delete", json={"id": deleted})
    assert reply.status_code == 200, reply.text
    retired = users_shim.model("sim/image")
    set_hidden_models(stack, ["sim/image"])  # a catalog change: the shim syncs its entries
    try:
        wait_until(
            lambda: retired not in models(user),
            limit_s=CATALOG_CHANGE_S,
            what="the sync after the catalog change",
            step_s=0.5,
        )
    finally:
        set_hidden_models(stack, [])
    wait_until(
        lambda: retired in models(user),
        limit_s=CATALOG_CHANGE_S,
        what="the catalog back",
        step_s=0.5,
    )
    assert deleted not in _entry_ids(stack)
    assert deleted not in models(user)
    # The admin asks for a re-sync: the entry comes back, and the valve switches itself off.
    _set_valves(stack, USERS_FUNCTION_ID, MODEL_RESYNC=True)
    wait_until(
        lambda: deleted in models(user),
        limit_s=CATALOG_CHANGE_S,
        what="the deleted entry re-created by MODEL_RESYNC",
        step_s=0.5,
    )
    with stack.admin.client() as client:
        valves = client.get(f"/api/v1/functions/id/{USERS_FUNCTION_ID}/valves").json()
    assert valves["MODEL_RESYNC"] is False
